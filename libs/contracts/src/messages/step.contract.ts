import type { ExecutorSamplingParams } from './sampling.contract.js';

// The per-step messages between scheduler and executor (vLLM's SchedulerOutput and
// ModelRunnerOutput). They are on the hot path, so they are plain interfaces validated by the
// hand-written functions in hot-path.validation.ts rather than class-validator classes.

/**
 * A request the executor does not hold yet: scheduled for the first time, or again after a
 * preemption (then it recomputes prompt + outputs so far). Its static data crosses only here.
 */
export interface NewRequestData {
  readonly requestId: string;
  /** The prompt, [numPromptTokens]. */
  readonly promptTokenIds: readonly number[];
  /** Output tokens sampled before a preemption, [numOutputTokens]; empty on first scheduling. */
  readonly outputTokenIds: readonly number[];
  readonly samplingParams: ExecutorSamplingParams;
  /**
   * Physical block ids, [ceil((numComputedTokens + numScheduledTokens) / blockSize)]: token at
   * position p lives in block blockIds[floor(p / blockSize)], slot p % blockSize. Leading blocks
   * may be prefix-cache hits that already hold KV (the first numComputedTokens positions).
   */
  readonly blockIds: readonly number[];
  /** Leading tokens whose KV is already in blockIds (prefix-cache hits); compute from here. */
  readonly numComputedTokens: number;
  /** Tokens to compute in this step: positions [numComputedTokens, + numScheduledTokens). */
  readonly numScheduledTokens: number;
}

/**
 * Requests the executor already holds, as parallel arrays indexed by i (struct of arrays: one
 * allocation per field per step, not per request). The executor appended each token it sampled
 * to its own copy of the request, so a decode step carries no token ids.
 */
export interface CachedRequestData {
  readonly requestIds: readonly string[];
  /**
   * [i]: block ids to append to request i's table ([] when none); the table only grows.
   * In the scheduler, empty entries share one frozen array; do not mutate.
   */
  readonly newBlockIds: readonly (readonly number[])[];
  /** [i]: tokens with KV already computed; the executor's own count must equal it. */
  readonly numComputedTokens: readonly number[];
  /** [i]: tokens to compute in this step, from position numComputedTokens[i]. */
  readonly numScheduledTokens: readonly number[];
}

/**
 * One step for the executor. The executor runs every scheduled token of every listed request
 * in one forward pass, writing the KV of all of them before any attention reads (per layer),
 * because a request may hit a cache block that another request fills in the same step. A
 * request whose computed tokens reach the end of its known tokens (prompt + outputs) gets one
 * token sampled; a request in the middle of a chunked prefill gets none. Each request appears
 * at most once (in newRequests or cachedRequests).
 */
export interface SchedulerOutput {
  /** Strictly increasing from 1; the StepResult must answer this id. */
  readonly stepId: number;
  readonly newRequests: readonly NewRequestData[];
  readonly cachedRequests: CachedRequestData;
  /** Sum of numScheduledTokens over both lists; ≤ maxNumBatchedTokens. */
  readonly totalNumScheduledTokens: number;
  /**
   * Requests that ended (finished or aborted) since the last step and that the executor holds:
   * drop their state. Their blocks may be reused in this very step. Apply before the lists above.
   */
  readonly finishedRequestIds: readonly string[];
  /**
   * Requests preempted since the last step: drop their state; they return later in newRequests
   * with their tokens so far. Apply before the lists above.
   */
  readonly preemptedRequestIds: readonly string[];
}

/** Logprobs of one sampled token, when the request asked for them. */
export interface TokenLogprobs {
  /** Log-probability of the sampled token under the model's raw distribution. */
  readonly logprob: number;
  /** The top-k alternatives, [k] each, most likely first (k = samplingParams.logprobs). */
  readonly topTokenIds?: readonly number[];
  readonly topLogprobs?: readonly number[];
}

export interface SampledToken {
  readonly requestId: string;
  readonly tokenId: number;
  readonly logprobs?: TokenLogprobs;
}

/** The executor's answer to one SchedulerOutput (vLLM's ModelRunnerOutput). */
export interface StepResult {
  /** The SchedulerOutput.stepId this answers. */
  readonly stepId: number;
  /**
   * One entry per request that reached the end of its known tokens in the step, any order. A
   * request expecting a token but missing here ends with finish reason `error`.
   */
  readonly sampled: readonly SampledToken[];
  /**
   * Set when the whole step failed (no KV written, nothing sampled): every request in it ends
   * with `error` and the cache registrations the step made are rolled back. The executor stays
   * registered (a broken executor answers with an error envelope or not at all instead).
   */
  readonly error?: string;
  /** Time the executor spent on the step, for the scheduler's metrics. */
  readonly executeTimeMs?: number;
}
