import { IsBoolean, IsInt, IsOptional, IsString, Matches, Min, MinLength } from 'class-validator';

/**
 * A replica is one scheduler + executor pair (one model copy on one GPU, or one CPU engine). Its
 * id names its subjects (Subjects.replica*): NATS tokens, so letters, digits, `_` and `-` only.
 */
export const REPLICA_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The replica id of a scheduler or executor started without one (a single-replica deployment). */
export const DEFAULT_REPLICA_ID = 'r0';

/**
 * Subject: Subjects.replicaStatus(replicaId) (publish-only). A scheduler's heartbeat and load,
 * every REPLICA_STATUS_INTERVAL_MS and at once when it gains or loses its executor. Routers drop
 * a replica whose status stops for REPLICA_SILENCE_MS.
 */
export class ReplicaStatusMessage {
  @IsString() @Matches(REPLICA_ID_PATTERN) replicaId!: string;
  /** Changes when the scheduler restarts: the router then resyncs its KV events. */
  @IsString() @MinLength(1) schedulerInstanceId!: string;
  /** false: no executor registered; routers send it nothing. */
  @IsBoolean() hasExecutor!: boolean;
  @IsBoolean() draining!: boolean;
  @IsOptional() @IsString() executorId?: string;
  @IsOptional() @IsString() device?: string;
  @IsOptional() @IsString() modelName?: string;
  /** The model revision: the root of every block hash (with the request's cache salt). */
  @IsOptional() @IsString() modelCacheKey?: string;
  @IsOptional() @IsInt() @Min(1) blockSize?: number;
  @IsInt() @Min(0) numRunning!: number;
  @IsInt() @Min(0) numWaiting!: number;
  @IsInt() @Min(0) numFreeBlocks!: number;
  @IsInt() @Min(0) numBlocks!: number;
  @IsInt() @Min(1) maxNumSeqs!: number;
  /** The seq of the last KvEventsMessage published: a router behind it lost events and resyncs. */
  @IsInt() @Min(0) kvEventSeq!: number;
  /** The scheduler's admin port (its /stats), for operators. */
  @IsOptional() @IsInt() @Min(1) schedulerAdminPort?: number;
}

/**
 * Subject: Subjects.replicaKvEvents(replicaId) (publish-only). The prefix-cache changes of one
 * replica since its previous message, batched (a few ms): block hashes (22-character base64url
 * strings, the scheduler's BlockHash) stored and removed. `cleared` first drops every hash the
 * replica had (executor session ended, cache reset, or the start of a resync, whose full
 * contents follow in `stored`). `seq` counts from 1 per scheduler instance; a gap means lost
 * events and makes the router ask for a resync.
 */
export interface KvEventsMessage {
  replicaId: string;
  schedulerInstanceId: string;
  seq: number;
  cleared?: boolean;
  stored: string[];
  removed: string[];
}

/** Subject: Subjects.replicaKvResync(replicaId) (publish-only): a router asks for the full set. */
export class KvResyncRequest {
  /** Who asks (logged). */
  @IsString() @MinLength(1) routerInstanceId!: string;
}

/** Subject: Subjects.executorPing(executorId) (request/reply): are you there? */
export class PingRequest {}

/** Reply to Subjects.executorPing: the executor is alive. */
export interface ExecutorPingReply {
  executorId: string;
}

/** How often a scheduler publishes its ReplicaStatusMessage. */
export const REPLICA_STATUS_INTERVAL_MS = 250;
/**
 * A replica without a status for this long is dead to routers: its streams fail, nothing more
 * goes there. 12 periods: a scheduler on an overloaded host can miss a few (measured: the whole
 * e2e suite in parallel on 2 cores), and a dead one still fails its streams within 5 s.
 */
export const REPLICA_SILENCE_MS = 3000;
/** Largest number of hashes in one KvEventsMessage (a resync is split): ~23 bytes each, well under NATS's 1 MB. */
export const KV_EVENTS_MAX_HASHES = 16384;
