import { Type, type Static } from '@sinclair/typebox';
import { defineMessage, EmptyObject, Int, NonEmptyString, Opt } from '../message.js';

/**
 * A replica is one scheduler + executor pair (one model copy on one GPU, or one CPU engine). Its
 * id names its subjects (Routes.replica*): NATS tokens, so letters, digits, `_` and `-` only.
 */
export const REPLICA_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The replica id of a scheduler or executor started without one (a single-replica deployment). */
export const DEFAULT_REPLICA_ID = 'r0';

/**
 * Routes.replicaStatus (publish-only). A scheduler's heartbeat and load, every
 * REPLICA_STATUS_INTERVAL_MS and at once when it gains or loses its executor. Routers drop a
 * replica whose status stops for REPLICA_SILENCE_MS.
 */
export const ReplicaStatusMessage = defineMessage(
  'ReplicaStatusMessage',
  Type.Object({
    replicaId: Type.String({ pattern: REPLICA_ID_PATTERN.source }),
    /** Changes when the scheduler restarts: the router then resyncs its KV events. */
    schedulerInstanceId: NonEmptyString(),
    /** false: no executor registered; routers send it nothing. */
    hasExecutor: Type.Boolean(),
    draining: Type.Boolean(),
    executorId: Opt(Type.String()),
    device: Opt(Type.String()),
    modelName: Opt(Type.String()),
    /** The model revision: the root of every block hash (with the request's cache salt). */
    modelCacheKey: Opt(Type.String()),
    blockSize: Opt(Int(1)),
    numRunning: Int(0),
    numWaiting: Int(0),
    numFreeBlocks: Int(0),
    numBlocks: Int(0),
    maxNumSeqs: Int(1),
    /** The seq of the last KvEventsMessage published: a router behind it lost events and resyncs. */
    kvEventSeq: Int(0),
    /** The scheduler's admin port (its /stats), for operators. */
    schedulerAdminPort: Opt(Int(1)),
  }),
);
export type ReplicaStatusMessage = Static<typeof ReplicaStatusMessage.schema>;

/**
 * Routes.replicaKvEvents (publish-only). The prefix-cache changes of one replica since its
 * previous message, batched (a few ms): block hashes (22-character base64url strings, the
 * scheduler's BlockHash) stored and removed. `cleared` first drops every hash the replica had
 * (executor session ended, cache reset, or the start of a resync, whose full contents follow in
 * `stored`). `seq` counts from 1 per scheduler instance; a gap means lost events and makes the
 * router ask for a resync. Up to KV_EVENTS_MAX_HASHES strings per message: unknown fields kept.
 */
export const KvEventsMessage = defineMessage(
  'KvEventsMessage',
  Type.Object({
    replicaId: NonEmptyString(),
    schedulerInstanceId: NonEmptyString(),
    seq: Int(1),
    cleared: Opt(Type.Boolean()),
    stored: Type.Array(NonEmptyString()),
    removed: Type.Array(NonEmptyString()),
  }),
  { unknownFields: 'keep' },
);
export type KvEventsMessage = Static<typeof KvEventsMessage.schema>;

/** Routes.replicaKvResync (publish-only): a router asks for the full set. */
export const KvResyncRequest = defineMessage(
  'KvResyncRequest',
  Type.Object({
    /** Who asks (logged). */
    routerInstanceId: NonEmptyString(),
  }),
);
export type KvResyncRequest = Static<typeof KvResyncRequest.schema>;

/** Routes.executorPing (request/reply): are you there? */
export const PingRequest = defineMessage('PingRequest', EmptyObject);
export type PingRequest = Static<typeof PingRequest.schema>;

/** Reply to Routes.executorPing: the executor is alive. */
export const ExecutorPingReply = defineMessage('ExecutorPingReply', Type.Object({ executorId: Type.String() }));
export type ExecutorPingReply = Static<typeof ExecutorPingReply.schema>;

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
