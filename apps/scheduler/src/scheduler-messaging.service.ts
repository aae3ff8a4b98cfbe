import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { EngineLoop } from '@deepinfer/scheduler-core';
import { BusHandlers, SERVICE_STATE } from '@deepinfer/service-kit';
import type { ServiceState } from '@deepinfer/service-kit';
import { ENGINE_LOOP } from './scheduler-options.js';

/**
 * What the scheduler shows of itself (health details, the stats snapshot) and how it stops: the
 * routes (SchedulerRoutes) are unsubscribed first, then the live requests end.
 */
@Injectable()
export class SchedulerMessagingService implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(BusHandlers) private readonly handlers: BusHandlers,
    @Inject(ENGINE_LOOP) private readonly loop: EngineLoop,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
  ) {}

  onModuleInit(): void {
    // The executor is the scheduler's one dependency: health shows it without failing /health,
    // since a scheduler waiting for its executor (still loading the model) is working as meant.
    this.state.addDetails(() => {
      const executor = this.loop.stats().executor;
      return {
        executor: executor && { executorId: executor.executorId, epoch: executor.epoch, device: executor.device, model: executor.modelName },
        numRunningRequests: this.loop.numRunningRequests,
        numWaitingRequests: this.loop.numWaitingRequests,
        draining: this.loop.isDraining,
      };
    });
    // Routes.stats.at('scheduler'): the body of GET /stats, for the api's console.
    this.state.setStatsProvider(() => ({ instanceId: this.state.instanceId, ...this.loop.stats() }));
  }

  /**
   * End what is live with a clear `error` to each client (the bus is still open here; the
   * routes were unsubscribed before: nothing new comes in).
   */
  async onApplicationShutdown(): Promise<void> {
    this.handlers.close();
    await this.loop.close();
  }
}
