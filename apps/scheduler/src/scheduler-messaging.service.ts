import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ProtocolError, Routes, type RegistrationReply, type SubmitMessage, type SubmitReply } from '@deepinfer/contracts';
import type { EngineLoop, LoopOutcome } from '@deepinfer/scheduler-core';
import { BusHandlers, SERVICE_STATE } from '@deepinfer/service-kit';
import type { ServiceState } from '@deepinfer/service-kit';
import { ReplicaLinkService } from './replica-link.service.js';
import { ENGINE_LOOP, REPLICA_ID } from './scheduler-options.js';

/**
 * The scheduler's NATS face, every route it serves or listens to: registration, submit, abort
 * and the routers' KV resync, each mapped onto the EngineLoop (or the ReplicaLinkService) in a
 * line or two. Registration, the router's submits and resyncs come on the replica's own
 * subjects (Routes.replica*.at(replicaId)); the shared submit route is a queue group over every
 * replica. Abort has no queue group: every scheduler hears it and acts only on the requests it
 * owns. BusHandlers unsubscribes them all at shutdown, before onApplicationShutdown.
 */
@Injectable()
export class SchedulerMessagingService implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(BusHandlers) private readonly handlers: BusHandlers,
    @Inject(ENGINE_LOOP) private readonly loop: EngineLoop,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(REPLICA_ID) private readonly replicaId: string,
    private readonly replicaLink: ReplicaLinkService,
  ) {}

  onModuleInit(): void {
    const submit = (message: SubmitMessage): SubmitReply => {
      orThrow(this.loop.submit(message));
      return { accepted: true, schedulerInstanceId: this.state.instanceId, replicaId: this.replicaId };
    };
    // Only this replica's executor registers here: the pair shares the replica id.
    this.handlers.serve(Routes.replicaRegister.at(this.replicaId), (registration): RegistrationReply => {
      const { newSession } = orThrow(this.loop.register(registration));
      if (newSession) this.replicaLink.publishStatus();
      return { schedulerInstanceId: this.state.instanceId, newSession };
    });
    // The router's choice, and the shared queue group (any replica) for callers without a router.
    this.handlers.serve(Routes.replicaSubmit.at(this.replicaId), submit);
    this.handlers.serve(Routes.schedulerSubmit, submit);
    this.handlers.listen(Routes.schedulerAbort, (message) => {
      this.loop.abort(message.requestIds, message.reason);
    });
    // A router lost KV events (or is new): send the full hash set again.
    this.handlers.listen(Routes.replicaKvResync.at(this.replicaId), (request) => this.replicaLink.resync(request.routerInstanceId));
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
   * routes above were unsubscribed by BusHandlers before: nothing new comes in).
   */
  async onApplicationShutdown(): Promise<void> {
    this.handlers.close();
    await this.loop.close();
  }
}

function orThrow<T>(outcome: LoopOutcome<T>): T {
  if (outcome.accepted) return outcome.value;
  throw new ProtocolError(outcome.code, outcome.message, outcome.param);
}
