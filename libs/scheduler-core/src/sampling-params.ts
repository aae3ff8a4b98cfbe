// The executor's form of these parameters, ExecutorSamplingParams, is a wire type: it lives in
// @deepinfer/contracts (sampling.contract.ts).

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
  /** Passed through to the executor's sampler (ExecutorSamplingParams); the scheduler does not read them. */
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly minP?: number;
  readonly seed?: number;
  readonly presencePenalty?: number;
  readonly frequencyPenalty?: number;
  readonly repetitionPenalty?: number;
  /** Token id (decimal string) → bias added to its logit. */
  readonly logitBias?: Readonly<Record<string, number>>;
  /** Number of top logprobs to return per output token; undefined: no logprobs. */
  readonly logprobs?: number;
}
