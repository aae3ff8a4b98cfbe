import { Controller, Inject } from '@nestjs/common';
import { Routes, type ExecutorPingReply, type PrepareGuideReply, type PrepareGuideRequest } from '@deepinfer/contracts';
import { ServeRoute } from '@deepinfer/service-kit';
import { ExecutorLink } from './executor-link.js';

/**
 * The executor's routes besides its step (ExecutorLink's `@BusRoute`): the scheduler's liveness
 * check and a guided request's prepare step, at this executor's id (ROUTE_INSTANCES: `executorId`), answered from the event loop
 * (steps run on a worker thread).
 */
@Controller()
export class ExecutorRoutes {
  constructor(@Inject(ExecutorLink) private readonly link: ExecutorLink) {}

  @ServeRoute(Routes.executorPing)
  ping(): ExecutorPingReply {
    return { executorId: this.link.executorId };
  }

  /**
   * The scheduler's prepare step for a guided request: compiles its grammar (on a guide worker:
   * the event loop stays free, steps keep running) so that its first step finds it compiled.
   */
  @ServeRoute(Routes.executorPrepareGuide)
  async prepareGuide(request: PrepareGuideRequest): Promise<PrepareGuideReply> {
    await this.link.prepareGuide(request.guided);
    return { ok: true };
  }
}
