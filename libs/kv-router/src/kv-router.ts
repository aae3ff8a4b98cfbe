import { REPLICA_SILENCE_MS, type KvEventsMessage, type ReplicaStatusMessage } from '@deepinfer/contracts';
import { BlockHasher, prefixBlockHashes, rootExtraKey, type BlockHash } from '@deepinfer/scheduler-core';
import { KvIndex, MAX_INDEXED_REPLICAS } from './kv-index.js';

export const ROUTING_POLICIES = ['kv', 'round_robin'] as const;

/**
 * A prompt block to prefill weighs as two blocks of KV already held: a replica holding a prompt's
 * prefix keeps it until it carries two prompts' worth more load than another (Dynamo's weight is
 * 1; at 1, a conversation moved as soon as its replica ran one more request than the others,
 * measured in e2e/src/scale-out.e2e.spec.ts and docs/performance.md, "Scale-out").
 */
export const DEFAULT_OVERLAP_WEIGHT = 2;
export type RoutingPolicy = (typeof ROUTING_POLICIES)[number];

export interface KvRouterOptions {
  /** `kv`: best overlap-minus-load; `round_robin`: the next live replica in turn. */
  readonly policy: RoutingPolicy;
  /** Requests with a `user` go back to the replica that served that user last, while it is live. */
  readonly sessionAffinity?: boolean;
  /** A replica silent this long is dropped; default REPLICA_SILENCE_MS. */
  readonly silenceMs?: number;
  /**
   * Weight of a prompt block not cached on a replica against one block of KV load it carries;
   * default DEFAULT_OVERLAP_WEIGHT.
   */
  readonly overlapWeight?: number;
  /** Users remembered for affinity (least recently routed forgotten first); default 100 000. */
  readonly maxAffinityUsers?: number;
  /** Monotonic clock in ms (default performance.now). */
  readonly clock?: () => number;
  /** Least interval between two resync asks to one replica; default 1000 ms. */
  readonly resyncIntervalMs?: number;
}

export interface RouteRequest {
  readonly tokenIds: readonly number[];
  readonly cacheSalt?: string;
  readonly user?: string;
  /** The request's output budget: its future KV blocks count in its replica's load until the next status. */
  readonly maxTokens?: number;
  /** Replicas not to choose (one that just refused the request). */
  readonly exclude?: ReadonlySet<string>;
}

export type RouteReason = 'kv' | 'least_load' | 'round_robin' | 'affinity';

export interface RouteDecision {
  readonly replicaId: string;
  readonly reason: RouteReason;
  /** Leading blocks of the prompt the chosen replica holds (as the router knows it). */
  readonly overlapBlocks: number;
  /** Full blocks of the prompt that a hit could cover (the scheduler's own limit). */
  readonly promptBlocks: number;
}

/** A replica as the router sees it (api /health and /v1/models). */
export interface ReplicaView {
  readonly replicaId: string;
  readonly schedulerInstanceId: string;
  readonly hasExecutor: boolean;
  readonly draining: boolean;
  readonly device?: string;
  readonly modelName?: string;
  readonly numRunning: number;
  readonly numWaiting: number;
  readonly numFreeBlocks: number;
  readonly numBlocks: number;
  /** Block hashes the router holds for it (its prefix cache as the events told). */
  readonly numIndexedBlocks: number;
  readonly kvEventsInSync: boolean;
  readonly numRoutedTotal: number;
  readonly lastStatusMsAgo: number;
  readonly schedulerAdminPort?: number;
}

/** What an event asks of the caller: publish a resync request to this replica. */
export interface RouterEffect {
  readonly resync?: string;
  /** A replica the router did not know before (first status, or a restarted scheduler). */
  readonly joined?: string;
  /**
   * A replica whose scheduler restarted (a new instance id): every request placed on the old
   * instance is gone. `lostInstance` is that old scheduler instance.
   */
  readonly lost?: { readonly replicaId: string; readonly schedulerInstanceId: string };
}

interface Replica {
  readonly replicaId: string;
  status: ReplicaStatusMessage;
  lastStatusAtMs: number;
  /** Index slot, or -1 beyond MAX_INDEXED_REPLICAS (routed by load only). */
  slot: number;
  inSync: boolean;
  lastSeq: number;
  lastResyncAskAtMs: number;
  /** Prompt blocks routed here since its last status (which does not count them yet). */
  pendingBlocks: number;
  numRouted: number;
}

const NO_EFFECT: RouterEffect = Object.freeze({});

/**
 * The KV-aware router (NVIDIA Dynamo's KV router, SGLang's cache-aware router): a framework-free
 * view of every replica built only from what the replicas publish (ReplicaStatusMessage every
 * 250 ms, KvEventsMessage as their prefix caches change), and the choice of a replica per request.
 *
 * Cost of replica r for a prompt of P full blocks, o_r of them cached there (leading blocks):
 *   overlapWeight × (P − o_r) + usedBlocks_r + pendingBlocks_r + numWaiting_r × P
 * i.e. the prefill work it would still do plus the KV load it already carries (running requests'
 * blocks, the blocks of requests routed to it since its last status — uncached prompt and
 * output budget —, its queue); the lowest cost wins, ties go
 * in round-robin order. With no overlap anywhere this is least load. The state is rebuilt from
 * events: an unknown replica, a restarted scheduler or a gap in a replica's event sequence makes
 * the router drop what it knew of that replica's cache and ask for a resync (the scheduler then
 * publishes `cleared` and its whole hash set).
 */
export class KvRouter {
  readonly policy: RoutingPolicy;
  private readonly replicas = new Map<string, Replica>();
  private readonly index = new KvIndex(MAX_INDEXED_REPLICAS);
  private readonly freeSlots: number[] = [];
  private readonly overlapScratch = new Int32Array(MAX_INDEXED_REPLICAS);
  private readonly hashers = new Map<number, BlockHasher>();
  private readonly roots = new Map<string, BlockHash>();
  private readonly affinity = new Map<string, string>();
  private readonly clock: () => number;
  private readonly silenceMs: number;
  private readonly overlapWeight: number;
  private readonly maxAffinityUsers: number;
  private readonly resyncIntervalMs: number;
  private cursor = 0;

  constructor(private readonly options: KvRouterOptions) {
    this.policy = options.policy;
    this.clock = options.clock ?? (() => performance.now());
    this.silenceMs = options.silenceMs ?? REPLICA_SILENCE_MS;
    this.overlapWeight = options.overlapWeight ?? DEFAULT_OVERLAP_WEIGHT;
    this.maxAffinityUsers = options.maxAffinityUsers ?? 100_000;
    this.resyncIntervalMs = options.resyncIntervalMs ?? 1000;
    for (let slot = MAX_INDEXED_REPLICAS - 1; slot >= 0; slot--) this.freeSlots.push(slot);
  }

  get numReplicas(): number {
    return this.replicas.size;
  }

  /** Replicas a request can go to now (live, with an executor, not draining). */
  get numRoutable(): number {
    let n = 0;
    for (const r of this.replicas.values()) if (this.routable(r)) n++;
    return n;
  }

  /** Distinct block hashes indexed, over all replicas. */
  get numIndexedBlocks(): number {
    return this.index.size;
  }

  has(replicaId: string): boolean {
    return this.replicas.has(replicaId);
  }

  /** A replica's heartbeat and load. */
  onStatus(status: ReplicaStatusMessage): RouterEffect {
    const now = this.clock();
    let replica = this.replicas.get(status.replicaId);
    let lost: RouterEffect['lost'];
    if (replica && replica.status.schedulerInstanceId !== status.schedulerInstanceId) {
      // Its scheduler restarted: whatever we knew of its cache is void, its requests are gone.
      lost = { replicaId: replica.replicaId, schedulerInstanceId: replica.status.schedulerInstanceId };
      this.drop(replica);
      replica = undefined;
    }
    if (!replica) {
      replica = {
        replicaId: status.replicaId,
        status,
        lastStatusAtMs: now,
        slot: this.freeSlots.pop() ?? -1,
        inSync: false,
        lastSeq: 0,
        lastResyncAskAtMs: now,
        pendingBlocks: 0,
        numRouted: 0,
      };
      this.replicas.set(status.replicaId, replica);
      // An empty replica is in sync from seq 0 on; one that has events already needs the full set.
      if (status.kvEventSeq === 0) replica.inSync = true;
      return { joined: status.replicaId, ...(status.kvEventSeq === 0 ? {} : { resync: status.replicaId }), ...(lost ? { lost } : {}) };
    }
    replica.status = status;
    replica.lastStatusAtMs = now;
    replica.pendingBlocks = 0;
    if (replica.inSync && status.kvEventSeq > replica.lastSeq) this.desync(replica);
    if (!replica.inSync && now - replica.lastResyncAskAtMs >= this.resyncIntervalMs) {
      replica.lastResyncAskAtMs = now;
      return { resync: replica.replicaId };
    }
    return NO_EFFECT;
  }

  /** A batch of one replica's prefix-cache changes. */
  onKvEvents(events: KvEventsMessage): RouterEffect {
    const replica = this.replicas.get(events.replicaId);
    if (!replica || replica.status.schedulerInstanceId !== events.schedulerInstanceId) return NO_EFFECT; // its status comes first
    if (events.cleared) {
      if (replica.slot >= 0) this.index.clear(replica.slot);
      replica.inSync = true;
    } else if (!replica.inSync) {
      return NO_EFFECT; // waiting for the resync
    } else if (events.seq !== replica.lastSeq + 1) {
      this.desync(replica);
      replica.lastResyncAskAtMs = this.clock();
      return { resync: replica.replicaId };
    }
    replica.lastSeq = events.seq;
    if (replica.slot >= 0) {
      if (events.removed.length > 0) this.index.remove(replica.slot, events.removed);
      if (events.stored.length > 0) this.index.store(replica.slot, events.stored);
    }
    return NO_EFFECT;
  }

  /** Drops replicas silent for silenceMs; returns their ids (their requests have failed). */
  sweep(): string[] {
    const now = this.clock();
    const lost: string[] = [];
    for (const replica of [...this.replicas.values()]) {
      if (now - replica.lastStatusAtMs > this.silenceMs) {
        this.drop(replica);
        lost.push(replica.replicaId);
      }
    }
    return lost;
  }

  /** The replica for a request, or undefined when none can take it. */
  route(request: RouteRequest): RouteDecision | undefined {
    const candidates: Replica[] = [];
    for (const r of this.replicas.values()) if (this.routable(r) && !request.exclude?.has(r.replicaId)) candidates.push(r);
    if (candidates.length === 0) return undefined;

    const identity = candidates[0]!.status;
    const blockSize = identity.blockSize ?? 16;
    const promptBlocks = Math.max(0, Math.floor((request.tokenIds.length - 1) / blockSize));

    if (this.options.sessionAffinity && request.user !== undefined) {
      const replicaId = this.affinity.get(request.user);
      const chosen = replicaId === undefined ? undefined : candidates.find((c) => c.replicaId === replicaId);
      if (chosen) return this.commit(chosen, request, 'affinity', this.overlapOf(chosen, request, blockSize, promptBlocks), promptBlocks);
    }

    const start = this.cursor++ % candidates.length;
    if (this.policy === 'round_robin') {
      const chosen = candidates[start]!;
      return this.commit(chosen, request, 'round_robin', 0, promptBlocks);
    }

    // One walk over the prompt's hashes gives every indexed replica's overlap.
    const overlaps = this.overlapScratch;
    overlaps.fill(0);
    const hashes = promptBlocks > 0 ? this.prefixHashes(request, identity.modelCacheKey ?? '', blockSize, promptBlocks) : [];
    if (hashes.length > 0 && this.index.size > 0) this.index.overlaps(hashes, overlaps);
    let best: Replica | undefined;
    let bestCost = Infinity;
    let bestOverlap = 0;
    for (let k = 0; k < candidates.length; k++) {
      const r = candidates[(start + k) % candidates.length]!;
      const overlap = r.slot >= 0 && r.inSync ? overlaps[r.slot]! : 0;
      const s = r.status;
      const load = s.numBlocks - s.numFreeBlocks + r.pendingBlocks + s.numWaiting * promptBlocks;
      const cost = this.overlapWeight * (promptBlocks - overlap) + load;
      if (cost < bestCost) {
        best = r;
        bestCost = cost;
        bestOverlap = overlap;
      }
    }
    // The chosen replica will cache this prompt's blocks: index them now rather than when its
    // events arrive (batched, ~10 ms and more later), so that the conversation's next turn,
    // often sent as soon as this one ends, finds them. The events then confirm them (idempotent)
    // or, as the blocks are evicted, remove them; a replica that refuses the request leaves them
    // until its next eviction events or resync (routing is a guess either way, never a fault).
    if (best!.slot >= 0 && best!.inSync && hashes.length > 0) this.index.store(best!.slot, hashes);
    return this.commit(best!, request, bestOverlap > 0 ? 'kv' : 'least_load', bestOverlap, promptBlocks);
  }

  /** Every known replica, by id. */
  views(): ReplicaView[] {
    const now = this.clock();
    return [...this.replicas.values()]
      .sort((a, b) => (a.replicaId < b.replicaId ? -1 : a.replicaId > b.replicaId ? 1 : 0))
      .map((r) => ({
        replicaId: r.replicaId,
        schedulerInstanceId: r.status.schedulerInstanceId,
        hasExecutor: r.status.hasExecutor,
        draining: r.status.draining,
        device: r.status.device,
        modelName: r.status.modelName,
        numRunning: r.status.numRunning,
        numWaiting: r.status.numWaiting,
        numFreeBlocks: r.status.numFreeBlocks,
        numBlocks: r.status.numBlocks,
        numIndexedBlocks: r.slot >= 0 ? this.index.sizeOf(r.slot) : 0,
        kvEventsInSync: r.inSync,
        numRoutedTotal: r.numRouted,
        lastStatusMsAgo: Math.round(now - r.lastStatusAtMs),
        schedulerAdminPort: r.status.schedulerAdminPort,
      }));
  }

  private routable(r: Replica): boolean {
    return r.status.hasExecutor && !r.status.draining;
  }

  private commit(chosen: Replica, request: RouteRequest, reason: RouteReason, overlapBlocks: number, promptBlocks: number): RouteDecision {
    // The blocks it will add there: its uncached prompt, its last partial block, its outputs
    // (a short prompt with a long answer weighs what it will hold, not what it sends).
    const blockSize = chosen.status.blockSize ?? 16;
    chosen.pendingBlocks += promptBlocks - overlapBlocks + 1 + Math.ceil((request.maxTokens ?? 0) / blockSize);
    chosen.numRouted++;
    if (this.options.sessionAffinity && request.user !== undefined) {
      this.affinity.delete(request.user);
      this.affinity.set(request.user, chosen.replicaId);
      if (this.affinity.size > this.maxAffinityUsers) this.affinity.delete(this.affinity.keys().next().value!);
    }
    return { replicaId: chosen.replicaId, reason, overlapBlocks, promptBlocks };
  }

  private overlapOf(r: Replica, request: RouteRequest, blockSize: number, promptBlocks: number): number {
    if (r.slot < 0 || !r.inSync || promptBlocks === 0) return 0;
    const hashes = this.prefixHashes(request, r.status.modelCacheKey ?? '', blockSize, promptBlocks);
    this.index.overlaps(hashes, this.overlapScratch);
    return this.overlapScratch[r.slot]!;
  }

  /** The scheduler's own block hashes of the prompt (same library, same root key). */
  private prefixHashes(request: RouteRequest, modelCacheKey: string, blockSize: number, numBlocks: number): BlockHash[] {
    let hasher = this.hashers.get(blockSize);
    if (!hasher) this.hashers.set(blockSize, (hasher = new BlockHasher(blockSize)));
    const extraKey = rootExtraKey(modelCacheKey, request.cacheSalt);
    const rootKey = `${blockSize}\0${extraKey}`;
    let root = this.roots.get(rootKey);
    if (root === undefined) {
      root = hasher.hashRoot(extraKey);
      if (request.cacheSalt === undefined) this.roots.set(rootKey, root);
    }
    return prefixBlockHashes(hasher, root, request.tokenIds, numBlocks);
  }

  private desync(replica: Replica): void {
    replica.inSync = false;
    if (replica.slot >= 0) this.index.clear(replica.slot);
  }

  private drop(replica: Replica): void {
    if (replica.slot >= 0) {
      this.index.clear(replica.slot);
      this.freeSlots.push(replica.slot);
    }
    this.replicas.delete(replica.replicaId);
  }
}
