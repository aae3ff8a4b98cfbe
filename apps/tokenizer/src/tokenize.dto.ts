import { IsArray, IsBoolean, IsOptional, IsString } from 'class-validator';

/** POST /tokenize (admin, debugging): exactly one of `text` (alias `prompt`, vLLM's name) or `messages`. */
export class TokenizeBody {
  @IsOptional() @IsString() text?: string;
  @IsOptional() @IsString() prompt?: string;
  /** OpenAI chat messages, rendered with the model's chat template. */
  @IsOptional() @IsArray() messages?: unknown[];
  /** Default true for text, false for messages (templates write their own BOS). */
  @IsOptional() @IsBoolean() add_special_tokens?: boolean;
  /** Messages only; default true. */
  @IsOptional() @IsBoolean() add_generation_prompt?: boolean;
}
