/**
 * Settings of the scheduler service that are not deployment configuration (libs/config): tests
 * shorten the step deadline; production uses the defaults of @deepinfer/scheduler-core.
 */
export interface SchedulerServiceOptions {
  /** How long one step may take before the executor counts as gone (default 30 s). */
  readonly stepTimeoutMs?: number;
  /** Waiting requests beyond which submits are refused `overloaded` (default 8 × max_num_seqs). */
  readonly maxNumWaitingRequests?: number;
  /** The replica this scheduler serves (default: DEEPINFER_REPLICA_ID, else `r0`). */
  readonly replicaId?: string;
}

/** Nest token of the optional SchedulerServiceOptions (SchedulerModule.withOptions). */
export const SCHEDULER_OPTIONS = Symbol('SchedulerServiceOptions');
/** Nest token of the service's EngineLoop. */
export const ENGINE_LOOP = Symbol('EngineLoop');
/** Nest token of the replica id (a string). */
export const REPLICA_ID = Symbol('ReplicaId');
/** Nest token of the KvEventBatcher the EngineLoop's prefix caches report to. */
export const KV_EVENTS = Symbol('KvEventBatcher');
