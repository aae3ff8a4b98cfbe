import { IsBoolean, IsInt, IsNumber, IsObject, IsOptional, Max, Min, ValidateBy } from 'class-validator';

/**
 * Guided (structured) decoding of one request: the output must match this. The api has checked
 * and normalised it (a JSON schema arrives as its JSON text, already rewritten to what the
 * grammar engine enforces exactly, see libs/guided-decoding); the executor compiles it against
 * the model's vocabulary and masks every sampled token with it.
 */
export type GuidedDecoding =
  | { readonly kind: 'json_object' }
  | { readonly kind: 'json_schema'; readonly schema: string; readonly strict: boolean }
  | { readonly kind: 'regex'; readonly pattern: string }
  | { readonly kind: 'choice'; readonly choices: readonly string[] }
  /** An xgrammar structural tag (JSON text): how tool calls are constrained. */
  | { readonly kind: 'structural_tag'; readonly tag: string };

export const GUIDED_DECODING_KINDS = ['json_object', 'json_schema', 'regex', 'choice', 'structural_tag'] as const;

/** Checks a GuidedDecoding's shape; returns a message naming the problem, or undefined. */
export function guidedDecodingProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'must be an object';
  const g = v as Record<string, unknown>;
  switch (g['kind']) {
    case 'json_object':
      return undefined;
    case 'json_schema':
      if (typeof g['schema'] !== 'string' || g['schema'].length === 0) return 'schema must be a non-empty string';
      return typeof g['strict'] === 'boolean' ? undefined : 'strict must be a boolean';
    case 'regex':
      return typeof g['pattern'] === 'string' && g['pattern'].length > 0 ? undefined : 'pattern must be a non-empty string';
    case 'choice':
      return Array.isArray(g['choices']) && g['choices'].length > 0 && g['choices'].every((c) => typeof c === 'string' && c.length > 0)
        ? undefined
        : 'choices must be a non-empty array of non-empty strings';
    case 'structural_tag':
      return typeof g['tag'] === 'string' && g['tag'].length > 0 ? undefined : 'tag must be a non-empty string';
    default:
      return `kind must be one of ${GUIDED_DECODING_KINDS.join(', ')}`;
  }
}

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
  /** Guided decoding: every output token is masked to keep the output matching this. */
  @IsOptional()
  @ValidateBy({ name: 'isGuidedDecoding', validator: { validate: (v) => guidedDecodingProblem(v) === undefined, defaultMessage: (a) => `guided: ${guidedDecodingProblem(a?.value)}` } })
  guided?: GuidedDecoding;
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
  /** Guided decoding (see GuidedDecoding): the executor masks each sampled token with it. */
  readonly guided?: GuidedDecoding;
}
