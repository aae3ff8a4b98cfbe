import { Type, type Static } from '@sinclair/typebox';
import { defineMessage, Int, NonEmptyString, Opt, ReadonlyArray } from '../message.js';
import { ExecutorSamplingParamsSchema } from './sampling.contract.js';

// The per-step messages between scheduler and executor (vLLM's SchedulerOutput and
// ModelRunnerOutput). They are on the hot path: unknown fields are kept (no walk besides the
// compiled check), and arrays are read-only (the scheduler shares frozen empty arrays).

/**
 * A request the executor does not hold yet: scheduled for the first time, or again after a
 * preemption (then it recomputes prompt + outputs so far). Its static data crosses only here.
 */
export const NewRequestDataSchema = Type.Object({
  requestId: NonEmptyString(),
  /** The prompt, [numPromptTokens]. */
  promptTokenIds: ReadonlyArray(Int(0)),
  /** Output tokens sampled before a preemption, [numOutputTokens]; empty on first scheduling. */
  outputTokenIds: ReadonlyArray(Int(0)),
  samplingParams: ExecutorSamplingParamsSchema,
  /**
   * Physical block ids, [ceil((numComputedTokens + numScheduledTokens) / blockSize)]: token at
   * position p lives in block blockIds[floor(p / blockSize)], slot p % blockSize. Leading blocks
   * may be prefix-cache hits that already hold KV (the first numComputedTokens positions).
   */
  blockIds: ReadonlyArray(Int(0)),
  /** Leading tokens whose KV is already in blockIds (prefix-cache hits); compute from here. */
  numComputedTokens: Int(0),
  /** Tokens to compute in this step: positions [numComputedTokens, + numScheduledTokens). */
  numScheduledTokens: Int(0),
});
export type NewRequestData = Readonly<Static<typeof NewRequestDataSchema>>;

/**
 * Requests the executor already holds, as parallel arrays indexed by i (struct of arrays: one
 * allocation per field per step, not per request). The executor appended each token it sampled
 * to its own copy of the request, so a decode step carries no token ids. Invariant (checked
 * with SchedulerOutput): the four arrays have the same length.
 */
export const CachedRequestDataSchema = Type.Object({
  requestIds: ReadonlyArray(NonEmptyString()),
  /**
   * [i]: block ids to append to request i's table ([] when none); the table only grows.
   * In the scheduler, empty entries share one frozen array; do not mutate.
   */
  newBlockIds: ReadonlyArray(ReadonlyArray(Int(0))),
  /** [i]: tokens with KV already computed; the executor's own count must equal it. */
  numComputedTokens: ReadonlyArray(Int(0)),
  /** [i]: tokens to compute in this step, from position numComputedTokens[i]. */
  numScheduledTokens: ReadonlyArray(Int(0)),
});
export type CachedRequestData = Readonly<Static<typeof CachedRequestDataSchema>>;

/**
 * Routes.executorStep: one step for the executor. The executor runs every scheduled token of
 * every listed request in one forward pass, writing the KV of all of them before any attention
 * reads (per layer), because a request may hit a cache block that another request fills in the
 * same step. A request whose computed tokens reach the end of its known tokens (prompt +
 * outputs) gets one token sampled; a request in the middle of a chunked prefill gets none. Each
 * request appears at most once (in newRequests or cachedRequests).
 */
export const SchedulerOutput = defineMessage(
  'SchedulerOutput',
  Type.Object({
    /** Strictly increasing from 1; the StepResult must answer this id. */
    stepId: Int(1),
    newRequests: ReadonlyArray(NewRequestDataSchema),
    cachedRequests: CachedRequestDataSchema,
    /** Sum of numScheduledTokens over both lists; ≤ maxNumBatchedTokens. */
    totalNumScheduledTokens: Int(0),
    /**
     * Requests that ended (finished or aborted) since the last step and that the executor holds:
     * drop their state. Their blocks may be reused in this very step. Apply before the lists above.
     */
    finishedRequestIds: ReadonlyArray(NonEmptyString()),
    /**
     * Requests preempted since the last step: drop their state; they return later in newRequests
     * with their tokens so far. Apply before the lists above.
     */
    preemptedRequestIds: ReadonlyArray(NonEmptyString()),
  }),
  {
    unknownFields: 'keep',
    check: ({ cachedRequests: c }) => {
      const n = c.requestIds.length;
      return c.newBlockIds.length === n && c.numComputedTokens.length === n && c.numScheduledTokens.length === n
        ? undefined
        : { path: 'cachedRequests', problem: `parallel arrays must have the same length (requestIds ${n}, newBlockIds ${c.newBlockIds.length}, numComputedTokens ${c.numComputedTokens.length}, numScheduledTokens ${c.numScheduledTokens.length})` };
    },
  },
);
export type SchedulerOutput = Readonly<Static<typeof SchedulerOutput.schema>>;

/** Logprobs of one sampled token, when the request asked for them. */
export const TokenLogprobsSchema = Type.Object({
  /** Log-probability of the sampled token under the model's raw distribution. */
  logprob: Type.Number(),
  /** The top-k alternatives, [k] each, most likely first (k = samplingParams.logprobs). */
  topTokenIds: Opt(ReadonlyArray(Int(0))),
  topLogprobs: Opt(ReadonlyArray(Type.Number())),
});
export type TokenLogprobs = Readonly<Static<typeof TokenLogprobsSchema>>;

export const SampledTokenSchema = Type.Object({
  requestId: NonEmptyString(),
  tokenId: Int(0),
  logprobs: Opt(TokenLogprobsSchema),
});
export type SampledToken = Readonly<Static<typeof SampledTokenSchema>>;

/** Reply of Routes.executorStep: the executor's answer to one SchedulerOutput (vLLM's ModelRunnerOutput). */
export const StepResult = defineMessage(
  'StepResult',
  Type.Object({
    /** The SchedulerOutput.stepId this answers. */
    stepId: Int(1),
    /**
     * One entry per request that reached the end of its known tokens in the step, any order. A
     * request expecting a token but missing here ends with finish reason `error`.
     */
    sampled: ReadonlyArray(SampledTokenSchema),
    /**
     * Set when the whole step failed (no KV written, nothing sampled): every request in it ends
     * with `error` and the cache registrations the step made are rolled back. The executor stays
     * registered (a broken executor answers with an error envelope or not at all instead).
     */
    error: Opt(NonEmptyString()),
    /** Time the executor spent on the step, for the scheduler's metrics. */
    executeTimeMs: Opt(Type.Number()),
  }),
  { unknownFields: 'keep' },
);
export type StepResult = Readonly<Static<typeof StepResult.schema>>;
