/** What a client asked for, as the scheduler receives it (already validated by the api). */
export interface SamplingParams {
  /** Most output tokens to generate (≥ 1); also capped by the model's context length. */
  readonly maxTokens: number;
  /** EOS and stop token ids cannot end the request before this many output tokens (default 0). */
  readonly minTokens?: number;
  /** Token ids that end the request with finish reason `stop`, besides the model's EOS ids. */
  readonly stopTokenIds?: readonly number[];
  /** When true, the model's EOS ids do not end the request (stopTokenIds still do). */
  readonly ignoreEos?: boolean;
  /** Passed through to the executor's sampler; the scheduler does not read them. */
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly seed?: number;
  /** Number of top logprobs to return per output token; undefined: no logprobs. */
  readonly logprobs?: number;
}

/**
 * The sampling parameters as the executor receives them, once per request (in NewRequestData).
 * The executor counts the request's output tokens itself, so the min-tokens rule needs no
 * per-step message: while numOutputTokens < minTokens it must never sample a token in
 * `minTokensBannedTokenIds` (the EOS ids unless ignoreEos, plus the stop token ids).
 */
export interface ExecutorSamplingParams {
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly seed?: number;
  readonly logprobs?: number;
  readonly minTokens: number;
  readonly minTokensBannedTokenIds: readonly number[];
}
