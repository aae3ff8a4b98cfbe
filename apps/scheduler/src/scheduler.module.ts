import { Module, type DynamicModule } from '@nestjs/common';
import { engineLoopProvider } from './engine-loop.provider.js';
import { SchedulerAdminController } from './scheduler-admin.controller.js';
import { SchedulerMessagingService } from './scheduler-messaging.service.js';
import { SchedulerMetrics } from './scheduler-metrics.js';
import { SCHEDULER_OPTIONS, type SchedulerServiceOptions } from './scheduler-options.js';

/**
 * The scheduler service's own providers and controllers: the EngineLoop (libs/scheduler-core)
 * wired to NATS, its metrics and its admin routes. The shared ones (configuration, logger, NATS
 * bus, metrics registry, health state, /health and /metrics) come from @deepinfer/service-kit.
 */
@Module({
  providers: [SchedulerMetrics, engineLoopProvider, SchedulerMessagingService],
  controllers: [SchedulerAdminController],
})
export class SchedulerModule {
  /** The module with non-default service options (tests: a short step deadline). */
  static withOptions(options: SchedulerServiceOptions): DynamicModule {
    return { module: SchedulerModule, providers: [{ provide: SCHEDULER_OPTIONS, useValue: options }] };
  }
}
