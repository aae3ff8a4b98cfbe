import type { FactoryProvider } from '@nestjs/common';
import type { DeepInferConfig } from '@deepinfer/config';
import type { MessageBus } from '@deepinfer/messaging';
import type { Logger } from '@deepinfer/observability';
import type { KvEventBatcher } from '@deepinfer/kv-router';
import { EngineLoop } from '@deepinfer/scheduler-core';
import { CONFIG, LOGGER, MESSAGE_BUS } from '@deepinfer/service-kit';
import { NatsEnginePorts } from './nats-engine-ports.js';
import { SchedulerMetrics } from './scheduler-metrics.js';
import { ENGINE_LOOP, KV_EVENTS, SCHEDULER_OPTIONS, type SchedulerServiceOptions } from './scheduler-options.js';

/** The service's one EngineLoop, wired to NATS, the configuration and the metrics. */
export const engineLoopProvider: FactoryProvider<EngineLoop> = {
  provide: ENGINE_LOOP,
  inject: [CONFIG, MESSAGE_BUS, LOGGER, SchedulerMetrics, KV_EVENTS, { token: SCHEDULER_OPTIONS, optional: true }],
  useFactory: (config: DeepInferConfig, bus: MessageBus, logger: Logger, metrics: SchedulerMetrics, kvEvents: KvEventBatcher, options: SchedulerServiceOptions | undefined) => {
    const loop = new EngineLoop(
      {
        maxModelLen: config.maxModelLen,
        maxNumBatchedTokens: config.maxNumBatchedTokens,
        maxNumSeqs: config.maxNumSeqs,
        enableChunkedPrefill: config.enableChunkedPrefill,
        enablePrefixCaching: config.enablePrefixCaching,
        asyncScheduling: config.asyncScheduling,
        maxNumWaitingRequests: options?.maxNumWaitingRequests,
        stepTimeoutMs: options?.stepTimeoutMs,
        prefixCacheListener: kvEvents,
      },
      new NatsEnginePorts(bus),
      logger.child({ component: 'engine-loop' }),
      metrics,
    );
    metrics.watch(loop);
    return loop;
  },
};
