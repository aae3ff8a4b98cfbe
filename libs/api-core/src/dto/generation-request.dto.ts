import { Type } from 'class-transformer';
import { IsBoolean, IsInt, IsNumber, IsOptional, IsString, Max, Min, ValidateNested, IsArray } from 'class-validator';
import { IsLogitBias, IsStop } from './custom-validators.js';

export class StreamOptionsDto {
  @IsOptional() @IsBoolean() include_usage?: boolean;
}

/**
 * The parameters /v1/completions and /v1/chat/completions share, in OpenAI's names plus vLLM's
 * extensions (top_k, min_p, repetition_penalty, stop_token_ids, ignore_eos, min_tokens, ...).
 * A field not declared here is warned about or refused (validateBody, reject_unknown_fields).
 */
export abstract class GenerationRequestDto {
  /** The served model name; optional (the one model served), but a wrong name is a 404. */
  @IsOptional() @IsString() model?: string;
  @IsOptional() @IsInt() @Min(1) max_tokens?: number;
  @IsOptional() @IsInt() @Min(1) @Max(128) n?: number;
  @IsOptional() @IsBoolean() stream?: boolean;
  @IsOptional() @ValidateNested() @Type(() => StreamOptionsDto) stream_options?: StreamOptionsDto;
  @IsOptional() @IsNumber() @Min(0) @Max(2) temperature?: number;
  @IsOptional() @IsNumber() @Min(Number.MIN_VALUE, { message: 'top_p must be in (0, 1]' }) @Max(1) top_p?: number;
  /** -1 or 0: off. */
  @IsOptional() @IsInt() @Min(-1) top_k?: number;
  @IsOptional() @IsNumber() @Min(0) @Max(1) min_p?: number;
  @IsOptional() @IsInt() seed?: number;
  @IsOptional() @IsNumber() @Min(-2) @Max(2) presence_penalty?: number;
  @IsOptional() @IsNumber() @Min(-2) @Max(2) frequency_penalty?: number;
  @IsOptional() @IsNumber() @Min(Number.MIN_VALUE, { message: 'repetition_penalty must be > 0' }) @Max(10) repetition_penalty?: number;
  @IsOptional() @IsLogitBias() logit_bias?: Record<string, number>;
  @IsOptional() @IsStop() stop?: string | string[];
  @IsOptional() @IsArray() @IsInt({ each: true }) @Min(0, { each: true }) stop_token_ids?: number[];
  @IsOptional() @IsBoolean() include_stop_str_in_output?: boolean;
  @IsOptional() @IsBoolean() ignore_eos?: boolean;
  @IsOptional() @IsInt() @Min(0) min_tokens?: number;
  @IsOptional() @IsBoolean() skip_special_tokens?: boolean;
  @IsOptional() @IsBoolean() spaces_between_special_tokens?: boolean;
  /** vLLM's: each choice also carries its token ids (`token_ids`) and its prompt's (`prompt_token_ids`). */
  @IsOptional() @IsBoolean() return_token_ids?: boolean;
  /** Guided decoding (guided-request.ts checks them by hand: the shapes vary). */
  @IsOptional() response_format?: unknown;
  @IsOptional() guided_json?: unknown;
  @IsOptional() guided_regex?: unknown;
  @IsOptional() guided_choice?: unknown;
  @IsOptional() guided_grammar?: unknown;
  @IsOptional() guided_decoding_backend?: unknown;
  @IsOptional() guided_whitespace_pattern?: unknown;
  @IsOptional() structured_outputs?: unknown;
  /** OpenAI's end-user id: with router_session_affinity, requests of one user go to one replica. */
  @IsOptional() @IsString() user?: string;
}
