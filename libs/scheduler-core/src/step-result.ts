/** Logprobs of one sampled token, when the request asked for them. */
export interface TokenLogprobs {
  /** Log-probability of the sampled token. */
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
   * with `error` and the cache registrations the step made are rolled back.
   */
  readonly error?: string;
}
