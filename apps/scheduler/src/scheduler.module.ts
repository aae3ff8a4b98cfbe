import { Module, type DynamicModule, type FactoryProvider } from '@nestjs/common';
import { Routes } from '@deepinfer/contracts';
import { replicaIdFrom } from '@deepinfer/config';
import { KvEventBatcher } from '@deepinfer/kv-router';
import type { MessageBus } from '@deepinfer/messaging';
import { MESSAGE_BUS, ROUTE_INSTANCES, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { engineLoopProvider } from './engine-loop.provider.js';
import { SchedulerAdminController } from './scheduler-admin.controller.js';
import { SchedulerMessagingService } from './scheduler-messaging.service.js';
import { SchedulerMetrics } from './scheduler-metrics.js';
import { ReplicaLinkService } from './replica-link.service.js';
import { SchedulerRoutes } from './scheduler.routes.js';
import { KV_EVENTS, REPLICA_ID, SCHEDULER_OPTIONS, type SchedulerServiceOptions } from './scheduler-options.js';

const replicaIdProvider: FactoryProvider<string> = {
  provide: REPLICA_ID,
  inject: [{ token: SCHEDULER_OPTIONS, optional: true }],
  useFactory: (options: SchedulerServiceOptions | undefined) => options?.replicaId ?? replicaIdFrom(process.env),
};

/** The prefix caches' events, batched and published on the replica's KV-events subject. */
/** The replica's own routes (register, submit, resync) are at its replica id. */
const routeInstancesProvider: FactoryProvider<{ replicaId: string }> = {
  provide: ROUTE_INSTANCES,
  inject: [REPLICA_ID],
  useFactory: (replicaId: string) => ({ replicaId }),
};

const kvEventsProvider: FactoryProvider<KvEventBatcher> = {
  provide: KV_EVENTS,
  inject: [MESSAGE_BUS, SERVICE_STATE, REPLICA_ID],
  useFactory: (bus: MessageBus, state: ServiceState, replicaId: string) =>
    new KvEventBatcher({
      replicaId,
      schedulerInstanceId: state.instanceId,
      publish: (message) => {
        // Lost events (NATS down, shutting down) show as a seq gap: the routers resync.
        try {
          bus.emit(Routes.replicaKvEvents.at(replicaId), message);
        } catch {
          // nothing to do here
        }
      },
    }),
};

/**
 * The scheduler service's own providers and controllers: the EngineLoop (libs/scheduler-core)
 * wired to NATS, its metrics and its admin routes. The shared ones (configuration, logger, NATS
 * bus, metrics registry, health state, /health and /metrics) come from @deepinfer/service-kit.
 */
@Module({
  providers: [SchedulerMetrics, replicaIdProvider, routeInstancesProvider, kvEventsProvider, engineLoopProvider, ReplicaLinkService, SchedulerMessagingService],
  controllers: [SchedulerAdminController, SchedulerRoutes],
})
export class SchedulerModule {
  /** The module with non-default service options (tests: a short step deadline). */
  static withOptions(options: SchedulerServiceOptions): DynamicModule {
    return { module: SchedulerModule, providers: [{ provide: SCHEDULER_OPTIONS, useValue: options }] };
  }
}
