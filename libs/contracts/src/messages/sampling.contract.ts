import { IsBoolean, IsInt, IsNumber, IsObject, IsOptional, Max, Min } from 'class-validator';

/**
 * A request's sampling and stopping parameters as the api validated them (OpenAI ranges are
 * the api's business; here: types and sane bounds). Crosses once, in SubmitMessage.
 */
export class SamplingParamsMessage {
  /** Most output tokens (≥ 1); also capped by the model's context length. */
  @IsInt() @Min(1) maxTokens!: number;
  /** EOS and stop token ids cannot end the request before this many output tokens. */
  @IsOptional() @IsInt() @Min(0) minTokens?: number;
  /** Token ids that end the request with finish reason `stop`, besides the model's EOS ids. */
  @IsOptional() @IsInt({ each: true }) @Min(0, { each: true }) stopTokenIds?: number[];
  @IsOptional() @IsBoolean() ignoreEos?: boolean;
  /** 0 = greedy. */
  @IsOptional() @IsNumber() @Min(0) temperature?: number;
  @IsOptional() @IsNumber() @Min(0) @Max(1) topP?: number;
  /** 0 or -1 = off. */
  @IsOptional() @IsInt() @Min(-1) topK?: number;
  @IsOptional() @IsNumber() @Min(0) @Max(1) minP?: number;
  @IsOptional() @IsInt() seed?: number;
  @IsOptional() @IsNumber() presencePenalty?: number;
  @IsOptional() @IsNumber() frequencyPenalty?: number;
  @IsOptional() @IsNumber() @Min(Number.MIN_VALUE) repetitionPenalty?: number;
  /** Token id (decimal string) → bias added to its logit. */
  @IsOptional() @IsObject() logitBias?: Record<string, number>;
  /** Top logprobs to return per output token (0 = only the sampled token's); absent: none. */
  @IsOptional() @IsInt() @Min(0) @Max(20) logprobs?: number;
}

/**
 * The sampling parameters as the executor receives them, once per request. The executor
 * counts output tokens itself: while numOutputTokens < minTokens it never samples a token of
 * `minTokensBannedTokenIds` (EOS unless ignoreEos, plus stop token ids).
 */
export interface ExecutorSamplingParams {
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly minP?: number;
  readonly seed?: number;
  readonly presencePenalty?: number;
  readonly frequencyPenalty?: number;
  readonly repetitionPenalty?: number;
  readonly logitBias?: Readonly<Record<string, number>>;
  readonly logprobs?: number;
  readonly minTokens: number;
  readonly minTokensBannedTokenIds: readonly number[];
}
