import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ErrorCodes, ProtocolError, REPLICA_STATUS_INTERVAL_MS, Routes, type KvEventsMessage, type ReplicaStatusMessage, type SubmitMessage, type SubmitReply } from '@deepinfer/contracts';
import type { DeepInferConfig } from '@deepinfer/config';
import { KvRouter, type ReplicaView, type RouterEffect } from '@deepinfer/kv-router';
import type { MessageBus } from '@deepinfer/messaging';
import type { Logger } from '@deepinfer/observability';
import { CONFIG, LOGGER, MESSAGE_BUS, METRICS_REGISTRY, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { DeltaRouter } from './delta-router.js';
import { StackClient } from './stack-client.js';

/**
 * A scheduler answers a submit at once (it only queues it); one that has not answered in this
 * long is taken for dead and the next replica is tried.
 */
const ROUTED_SUBMIT_TIMEOUT_MS = 2000;

/** A request sent to a replica and not finished: what its replica's death must undo. */
interface Placed {
  readonly replicaId: string;
  /** The scheduler instance that accepted it: a restarted scheduler knows none of the old one's. */
  readonly schedulerInstanceId: string;
  readonly tokenizerInstanceId: string;
}

/** What the router needs of a request besides the submit itself. */
export interface RoutingHints {
  readonly user?: string;
}

/**
 * The api's side of scale-out: a thin Nest adapter over libs/kv-router's KvRouter. It listens to
 * every replica's status and KV events, asks for resyncs, sends each submit to the replica the
 * router chooses (another one once when that replica refuses `unavailable`), and when a replica
 * falls silent fails the streams of the requests placed on it (and closes them at the tokenizer).
 */
@Injectable()
export class ReplicaRouter implements OnModuleInit, OnApplicationShutdown {
  readonly router: KvRouter;
  private readonly placed = new Map<string, Placed>();
  private timer: NodeJS.Timeout | undefined;
  private readonly decisions: Counter<'reason'>;
  private readonly overlapFraction: Histogram;
  private readonly routeSeconds: Histogram;

  constructor(
    @Inject(CONFIG) config: DeepInferConfig,
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(METRICS_REGISTRY) registry: Registry,
    private readonly stack: StackClient,
    private readonly deltas: DeltaRouter,
  ) {
    this.router = new KvRouter({ policy: config.router, sessionAffinity: config.routerSessionAffinity });
    const registers = [registry];
    this.decisions = new Counter({ name: 'deepinfer_router_decisions_total', help: 'Requests routed to a replica, by why it was chosen', labelNames: ['reason'], registers });
    this.overlapFraction = new Histogram({ name: 'deepinfer_router_overlap_fraction', help: "Fraction of a prompt's full blocks cached on the chosen replica, as the router knew it", buckets: [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1], registers });
    this.routeSeconds = new Histogram({ name: 'deepinfer_router_route_seconds', help: 'Time to choose a replica (hashing the prompt included)', buckets: [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01], registers });
    const router = this.router;
    new Gauge({
      name: 'deepinfer_router_replicas',
      help: 'Replicas the router knows, and those it can route to',
      labelNames: ['state'],
      registers,
      collect() {
        this.set({ state: 'known' }, router.numReplicas);
        this.set({ state: 'routable' }, router.numRoutable);
      },
    });
  }

  onModuleInit(): void {
    this.timer = setInterval(() => this.sweep(), REPLICA_STATUS_INTERVAL_MS);
    this.timer.unref();
  }

  /** Every replica's status (ReplicaRoutes). */
  onStatus(status: ReplicaStatusMessage): void {
    this.apply(this.router.onStatus(status));
  }

  /** Every replica's KV events (ReplicaRoutes). */
  onKvEvents(events: KvEventsMessage): void {
    this.apply(this.router.onKvEvents(events));
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  views(): ReplicaView[] {
    return this.router.views();
  }

  /**
   * Submits to the chosen replica. No replica known yet (the first status is 250 ms away) goes to
   * the shared queue group; a replica that refuses `unavailable` (its executor just died) is
   * excluded and the next choice tried.
   */
  async submit(message: SubmitMessage, hints: RoutingHints): Promise<SubmitReply> {
    const exclude = new Set<string>();
    for (;;) {
      const started = performance.now();
      const decision = this.router.route({ tokenIds: message.promptTokenIds, cacheSalt: message.cacheSalt, user: hints.user, maxTokens: message.samplingParams.maxTokens, exclude });
      this.routeSeconds.observe((performance.now() - started) / 1000);
      if (!decision) {
        if (exclude.size > 0) throw new ProtocolError(ErrorCodes.unavailable, 'no replica can take the request (every one refused or has no executor); retry shortly');
        const reply = await this.stack.submit(message);
        this.place(message, reply);
        return reply;
      }
      this.decisions.inc({ reason: decision.reason });
      this.overlapFraction.observe(decision.promptBlocks > 0 ? decision.overlapBlocks / decision.promptBlocks : 0);
      try {
        const reply = await this.stack.submitTo(decision.replicaId, message, ROUTED_SUBMIT_TIMEOUT_MS);
        this.place(message, reply);
        return reply;
      } catch (err) {
        if (!(err instanceof ProtocolError) || err.code !== ErrorCodes.unavailable) throw err;
        // No executor there, nobody serving its subject, or no answer in time (a scheduler that
        // died with the request in its socket). In the last case it may yet have taken it: the
        // abort goes out before the next submit, and NATS keeps one publisher's order.
        this.stack.abort({ requestIds: [message.requestId], reason: 'abort' });
        exclude.add(decision.replicaId);
        this.logger.debug('replica refused a submit; trying another', { replica: decision.replicaId, err: err.message });
      }
    }
  }

  /** The request has finished (or failed): nothing more to undo for it. */
  release(requestId: string): void {
    this.placed.delete(requestId);
  }

  private place(message: SubmitMessage, reply: SubmitReply): void {
    this.placed.set(message.requestId, { replicaId: reply.replicaId, schedulerInstanceId: reply.schedulerInstanceId, tokenizerInstanceId: message.tokenizerInstanceId });
  }

  private apply(effect: RouterEffect): void {
    if (effect.joined) this.logger.info('replica joined', { replica: effect.joined, replicas: this.router.numReplicas });
    if (effect.resync) this.bus.emit(Routes.replicaKvResync.at(effect.resync), { routerInstanceId: this.state.instanceId });
    if (effect.lost) {
      const { replicaId, schedulerInstanceId } = effect.lost;
      this.failPlaced(new Set([replicaId]), (placed) => placed.schedulerInstanceId === schedulerInstanceId, 'its scheduler restarted');
    }
  }

  /** Replicas silent too long are dropped; the requests placed there fail now. */
  private sweep(): void {
    const lost = new Set(this.router.sweep());
    if (lost.size > 0) this.failPlaced(lost, () => true, 'it stopped answering');
  }

  private failPlaced(lost: ReadonlySet<string>, matches: (placed: Placed) => boolean, what: string): void {
    const byTokenizer = new Map<string, string[]>();
    const failed: string[] = [];
    for (const [requestId, placed] of this.placed) {
      if (!lost.has(placed.replicaId) || !matches(placed)) continue;
      failed.push(requestId);
      this.placed.delete(requestId);
      byTokenizer.set(placed.tokenizerInstanceId, [...(byTokenizer.get(placed.tokenizerInstanceId) ?? []), requestId]);
    }
    this.logger.warn(`replica lost (${what}); failing its requests`, { replicas: [...lost].join(','), numRequests: failed.length, remaining: this.router.numReplicas });
    this.deltas.fail(failed, `replica ${[...lost].join(', ')} was lost (${what}) while this request ran; retry it`);
    for (const [tokenizerInstanceId, requestIds] of byTokenizer) this.stack.closeStreams(tokenizerInstanceId, { requestIds });
  }
}
