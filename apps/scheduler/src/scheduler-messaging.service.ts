import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import {
  AbortMessage,
  ExecutorRegistration,
  ProtocolError,
  queueGroupOf,
  Subjects,
  SubmitMessage,
  type RegistrationReply,
  type SubmitReply,
} from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import type { EngineLoop, LoopOutcome } from '@deepinfer/scheduler-core';
import { MESSAGE_BUS, SERVICE_STATE } from '@deepinfer/service-kit';
import type { ServiceState } from '@deepinfer/service-kit';
import { ReplicaLinkService } from './replica-link.service.js';
import { ENGINE_LOOP, REPLICA_ID } from './scheduler-options.js';

/**
 * The scheduler's NATS face: registration, submit and abort, each mapped onto the EngineLoop in
 * a line or two. Registration and the router's submits come on the replica's own subjects
 * (Subjects.replica*(replicaId)); the shared submit subject is a queue group over every replica.
 * Abort has no queue group: every scheduler hears it and acts only on the requests it owns.
 */
@Injectable()
export class SchedulerMessagingService implements OnModuleInit, OnApplicationShutdown {
  private readonly subscriptions: Subscription[] = [];

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(ENGINE_LOOP) private readonly loop: EngineLoop,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(REPLICA_ID) private readonly replicaId: string,
    private readonly replicaLink: ReplicaLinkService,
  ) {}

  onModuleInit(): void {
    const queue = queueGroupOf('scheduler');
    const submit = (message: SubmitMessage): SubmitReply => {
      orThrow(this.loop.submit(message));
      return { accepted: true, schedulerInstanceId: this.state.instanceId, replicaId: this.replicaId };
    };
    this.subscriptions.push(
      // Only this replica's executor registers here: the pair shares the replica id.
      this.bus.handle(Subjects.replicaRegister(this.replicaId), ExecutorRegistration, (registration): RegistrationReply => {
        const { newSession } = orThrow(this.loop.register(registration));
        if (newSession) this.replicaLink.publishStatus();
        return { schedulerInstanceId: this.state.instanceId, newSession };
      }),
      // The router's choice, and the shared queue group (any replica) for callers without a router.
      this.bus.handle(Subjects.replicaSubmit(this.replicaId), SubmitMessage, submit),
      this.bus.handle(Subjects.schedulerSubmit, SubmitMessage, submit, { queue }),
      this.bus.subscribe(Subjects.schedulerAbort, AbortMessage, (message) => {
        this.loop.abort(message.requestIds, message.reason);
      }),
    );
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
    // Subjects.stats('scheduler'): the body of GET /stats, for the api's console.
    this.state.setStatsProvider(() => ({ instanceId: this.state.instanceId, ...this.loop.stats() }));
  }

  /** Stop listening, then end what is live with a clear `error` to each client (the bus is still open here). */
  async onApplicationShutdown(): Promise<void> {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    await this.loop.close();
  }
}

function orThrow<T>(outcome: LoopOutcome<T>): T {
  if (outcome.accepted) return outcome.value;
  throw new ProtocolError(outcome.code, outcome.message, outcome.param);
}
