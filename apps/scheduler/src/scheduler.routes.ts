import { Controller, Inject } from '@nestjs/common';
import { ProtocolError, Routes, type AbortMessage, type ExecutorRegistration, type KvResyncRequest, type RegistrationReply, type SubmitMessage, type SubmitReply } from '@deepinfer/contracts';
import type { EngineLoop, LoopOutcome } from '@deepinfer/scheduler-core';
import { ListenRoute, SERVICE_STATE, ServeRoute, type ServiceState } from '@deepinfer/service-kit';
import { ReplicaLinkService } from './replica-link.service.js';
import { ENGINE_LOOP, REPLICA_ID } from './scheduler-options.js';

/**
 * The scheduler's NATS face, every route it serves or listens to: registration, submit, abort
 * and the routers' KV resync, each mapped onto the EngineLoop (or the ReplicaLinkService) in a
 * line or two. Registration, the router's submits and resyncs come on the replica's own
 * subjects (ROUTE_INSTANCES: `replicaId`); the shared submit route is a queue group over every
 * replica. Abort has no queue group: every scheduler hears it and acts only on the requests it
 * owns. BusHandlers unsubscribes them all at shutdown, before onApplicationShutdown.
 */
@Controller()
export class SchedulerRoutes {
  constructor(
    @Inject(ENGINE_LOOP) private readonly loop: EngineLoop,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(REPLICA_ID) private readonly replicaId: string,
    @Inject(ReplicaLinkService) private readonly replicaLink: ReplicaLinkService,
  ) {}

  /** Only this replica's executor registers here: the pair shares the replica id. */
  @ServeRoute(Routes.replicaRegister)
  register(registration: ExecutorRegistration): RegistrationReply {
    const { newSession } = orThrow(this.loop.register(registration));
    if (newSession) this.replicaLink.publishStatus();
    return { schedulerInstanceId: this.state.instanceId, newSession };
  }

  /** The router's choice. */
  @ServeRoute(Routes.replicaSubmit)
  submitHere(message: SubmitMessage): SubmitReply {
    return this.submit(message);
  }

  /** The shared queue group (any replica), for callers without a router. */
  @ServeRoute(Routes.schedulerSubmit)
  submitAnywhere(message: SubmitMessage): SubmitReply {
    return this.submit(message);
  }

  @ListenRoute(Routes.schedulerAbort)
  abort(message: AbortMessage): void {
    this.loop.abort(message.requestIds, message.reason);
  }

  /** A router lost KV events (or is new): send the full hash set again. */
  @ListenRoute(Routes.replicaKvResync)
  resync(request: KvResyncRequest): void {
    this.replicaLink.resync(request.routerInstanceId);
  }

  private submit(message: SubmitMessage): SubmitReply {
    orThrow(this.loop.submit(message));
    return { accepted: true, schedulerInstanceId: this.state.instanceId, replicaId: this.replicaId };
  }
}

function orThrow<T>(outcome: LoopOutcome<T>): T {
  if (outcome.accepted) return outcome.value;
  throw new ProtocolError(outcome.code, outcome.message, outcome.param);
}
