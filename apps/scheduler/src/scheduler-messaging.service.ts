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
import { ENGINE_LOOP } from './scheduler-options.js';

/**
 * The scheduler's NATS face: registration, submit and abort, each mapped onto the EngineLoop in
 * a line or two. Submit and register join the `deepinfer-scheduler` queue group: with one
 * scheduler per engine replica (today's deployment) that changes nothing, and a second
 * instance never double-registers an executor. Abort has no queue group: every scheduler
 * hears it and acts only on the requests it owns.
 */
@Injectable()
export class SchedulerMessagingService implements OnModuleInit, OnApplicationShutdown {
  private readonly subscriptions: Subscription[] = [];

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(ENGINE_LOOP) private readonly loop: EngineLoop,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
  ) {}

  onModuleInit(): void {
    const queue = queueGroupOf('scheduler');
    this.subscriptions.push(
      this.bus.handle(Subjects.schedulerRegister, ExecutorRegistration, (registration): RegistrationReply => {
        const { newSession } = orThrow(this.loop.register(registration));
        return { schedulerInstanceId: this.state.instanceId, newSession };
      }, { queue }),
      this.bus.handle(Subjects.schedulerSubmit, SubmitMessage, (message): SubmitReply => {
        orThrow(this.loop.submit(message));
        return { accepted: true, schedulerInstanceId: this.state.instanceId };
      }, { queue }),
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
