import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsInt, IsObject, IsOptional, IsString, Min, MinLength, ValidateNested } from 'class-validator';

/** How one request's output is turned into text, chosen by the client (OpenAI/vLLM params). */
export class DetokenizeParams {
  /** Stop strings: the text ends before the first match, which never reaches the client. */
  @IsOptional() @IsString({ each: true }) stop?: string[];
  @IsOptional() @IsBoolean() includeStopStrInOutput?: boolean;
  /** Default true. */
  @IsOptional() @IsBoolean() skipSpecialTokens?: boolean;
  @IsOptional() @IsBoolean() spacesBetweenSpecialTokens?: boolean;
}

/**
 * Opens the detokenization stream of one request (one per choice when n > 1) on the tokenizer
 * instance that encodes its prompt. That instance's id then travels in SubmitMessage so the
 * scheduler sends this request's outputs to it: a stream's state is never split.
 */
export class StreamOpen {
  @IsString() @MinLength(1) requestId!: string;
  /** Where this request's DeltaBatch entries go: Subjects.apiDeltas(apiInstanceId). */
  @IsString() @MinLength(1) deltasSubject!: string;
  @ValidateNested() @Type(() => DetokenizeParams) detokenize!: DetokenizeParams;
}

/** Subject: Subjects.tokenizerEncode. Text → token ids (and optionally opens streams). */
export class EncodeRequest {
  @IsString() text!: string;
  /** Add BOS/EOS as the tokenizer's post-processor says (default true). */
  @IsOptional() @IsBoolean() addSpecialTokens?: boolean;
  /**
   * The prompt as token ids, when the client sent ids instead of text: nothing is encoded
   * (`text` should be ''), the ids are checked against the vocabulary and the length limit, and
   * they prime the streams (so the first output word keeps its leading space). Echoed in the reply.
   */
  @IsOptional() @IsArray() @IsInt({ each: true }) @Min(0, { each: true }) promptTokenIds?: number[];
  /**
   * When set, the prompt plus this many output tokens must fit max_model_len (and the prompt
   * must not be empty). Without it, opening streams only needs room for one output token.
   */
  @IsOptional() @IsInt() @Min(1) maxTokens?: number;
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => StreamOpen) streams?: StreamOpen[];
}

/** Subject: Subjects.tokenizerChat. OpenAI-shaped messages → chat template → token ids. */
export class ChatRequest {
  /** OpenAI chat messages; roles and content are validated by the tokenizer (clear 400s). */
  @IsArray() messages!: unknown[];
  /** Default true. */
  @IsOptional() @IsBoolean() addGenerationPrompt?: boolean;
  @IsOptional() @IsArray() tools?: unknown[];
  /** A literal template overriding the model's. */
  @IsOptional() @IsString() chatTemplate?: string;
  @IsOptional() @IsObject() templateKwargs?: Record<string, unknown>;
  @IsOptional() @IsBoolean() addSpecialTokens?: boolean;
  @IsOptional() @IsInt() @Min(1) maxTokens?: number;
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => StreamOpen) streams?: StreamOpen[];
}

/** Reply to EncodeRequest and ChatRequest. */
export interface EncodeReply {
  tokenIds: number[];
  numTokens: number;
  /** The rendered chat prompt (chat only). */
  prompt?: string;
  /** The model's context length the check used. */
  maxModelLen: number;
  /** The instance that holds the streams opened by this request. */
  tokenizerInstanceId: string;
}

/** Subject: Subjects.tokenizerDecode. */
export class DecodeRequest {
  @IsArray() @IsInt({ each: true }) @Min(0, { each: true }) tokenIds!: number[];
  /** Default true. */
  @IsOptional() @IsBoolean() skipSpecialTokens?: boolean;
}

export interface DecodeReply {
  text: string;
}

/** Subject: Subjects.tokenizerInfo. */
export class TokenizerInfoRequest {}

export interface TokenizerInfoReply {
  vocabSize: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
  hasChatTemplate: boolean;
  /** The default chat template's source (the api reads the tool-call format from it); null: none. */
  chatTemplate: string | null;
  maxModelLen: number;
  specialTokens: { id: number; text: string }[];
}

/** Subject: Subjects.tokenizerClose(instance). Drops streams of requests that will not run. */
export class StreamCloseMessage {
  @IsArray() @IsString({ each: true }) requestIds!: string[];
}
