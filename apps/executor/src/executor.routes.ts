import { Controller, Inject } from '@nestjs/common';
import { Routes, type ExecutorPingReply } from '@deepinfer/contracts';
import { ServeRoute } from '@deepinfer/service-kit';
import { ExecutorLink } from './executor-link.js';

/**
 * The executor's routes besides its step (ExecutorLink's `@BusRoute`): the scheduler's liveness
 * check, at this executor's id (ROUTE_INSTANCES: `executorId`), answered from the event loop
 * (steps run on a worker thread).
 */
@Controller()
export class ExecutorRoutes {
  constructor(@Inject(ExecutorLink) private readonly link: ExecutorLink) {}

  @ServeRoute(Routes.executorPing)
  ping(): ExecutorPingReply {
    return { executorId: this.link.executorId };
  }
}
