import type { PrefixCacheListener } from '../prefix-cache-listener.js';
import type { SchedulingPolicy } from '../scheduling-policy.js';

/**
 * The scheduler service's own settings (from the deployment's configuration); the capacity and
 * the model come from the executor's registration, never from here.
 */
export interface EngineLoopSettings {
  /** The user's cap on the context length; the model's own (from the registration) applies too. */
  readonly maxModelLen?: number;
  /** The user's step token budget; the executor's profiled maximum applies too. */
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  readonly enableChunkedPrefill: boolean;
  readonly enablePrefixCaching: boolean;
  /** Waiting requests beyond which submits are refused `overloaded`; default DEFAULT_MAX_NUM_WAITING_PER_SEQ × maxNumSeqs. */
  readonly maxNumWaitingRequests?: number;
  /**
   * Asynchronous scheduling: schedule and send the next step while one is at the executor (at
   * most two in flight; see Scheduler). Default true.
   */
  readonly asyncScheduling?: boolean;
  /** How long a step may take before the executor counts as gone; default DEFAULT_STEP_TIMEOUT_MS. */
  readonly stepTimeoutMs?: number;
  readonly policy?: SchedulingPolicy;
  /** Monotonic clock in ms (default performance.now). */
  readonly clock?: () => number;
  /** Told of every prefix-cache store, removal and reset, across executor sessions (KV events). */
  readonly prefixCacheListener?: PrefixCacheListener;
  /**
   * An executor silent (no heartbeat registration) for this long is gone; default
   * DEFAULT_EXECUTOR_SILENCE_MS. Checked by checkExecutor().
   */
  readonly executorSilenceMs?: number;
}

/**
 * Executors re-register every second; ten missed heartbeats mean a wedged one. A dead one is found
 * sooner, by the ping (no responders); this only catches a process alive but not answering, and
 * must not fire on a loaded host whose event loops stall for a few seconds.
 */
export const DEFAULT_EXECUTOR_SILENCE_MS = 10_000;

/**
 * A step's deadline. A step is bounded by maxNumBatchedTokens, and the slowest real one (a full
 * 8k-token prefill chunk of an 8B model on the CPU backend) takes seconds, not tens of seconds;
 * model loading and warm-up happen before the executor registers. So 30 s without an answer
 * means the executor is gone or wedged, and waiting longer would only hang every client.
 */
export const DEFAULT_STEP_TIMEOUT_MS = 30_000;

/**
 * The default waiting-queue bound, per running slot: deep enough to absorb bursts (vLLM's queue
 * is unbounded), shallow enough that a client refused with `overloaded` learns it in
 * milliseconds instead of waiting minutes in a queue it would time out of anyway.
 */
export const DEFAULT_MAX_NUM_WAITING_PER_SEQ = 8;
