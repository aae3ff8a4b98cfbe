import { Controller, Inject } from '@nestjs/common';
import { Routes, type KvEventsMessage, type ReplicaStatusMessage } from '@deepinfer/contracts';
import { ListenRoute } from '@deepinfer/service-kit';
import { ReplicaRouter } from './replica-router.js';

/**
 * What the api hears from every replica (no queue group: every api instance keeps its own
 * router view): statuses (every 250 ms) and prefix-cache events, for the ReplicaRouter. The
 * deltas route is DeltaRouter's (`@BusRoute`, the hot path).
 */
@Controller()
export class ReplicaRoutes {
  constructor(@Inject(ReplicaRouter) private readonly router: ReplicaRouter) {}

  @ListenRoute(Routes.replicaStatus, { everyInstance: true })
  status(status: ReplicaStatusMessage): void {
    this.router.onStatus(status);
  }

  @ListenRoute(Routes.replicaKvEvents, { everyInstance: true })
  kvEvents(events: KvEventsMessage): void {
    this.router.onKvEvents(events);
  }
}
