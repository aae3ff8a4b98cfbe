import { ArrayNotEmpty, IsArray, IsBoolean, IsInt, IsObject, IsOptional, IsString, Max, Min } from 'class-validator';
import { GenerationRequestDto } from './generation-request.dto.js';

/** POST /v1/chat/completions. Message roles and content are validated by the tokenizer. */
export class ChatCompletionRequestDto extends GenerationRequestDto {
  @IsArray() @ArrayNotEmpty() messages!: unknown[];
  /** The newer name of max_tokens; wins when both are given. */
  @IsOptional() @IsInt() @Min(1) max_completion_tokens?: number;
  @IsOptional() @IsBoolean() logprobs?: boolean;
  @IsOptional() @IsInt() @Min(0) @Max(20) top_logprobs?: number;
  /** Function tools (checked by toolPlanOf), passed to the chat template. */
  @IsOptional() @IsArray() tools?: unknown[];
  /** "none" | "auto" | "required" | {type: "function", function: {name}} (checked by toolPlanOf). */
  @IsOptional() tool_choice?: unknown;
  @IsOptional() @IsBoolean() parallel_tool_calls?: boolean;
  @IsOptional() @IsBoolean() add_generation_prompt?: boolean;
  @IsOptional() @IsObject() chat_template_kwargs?: Record<string, unknown>;
  @IsOptional() @IsString() chat_template?: string;
}
