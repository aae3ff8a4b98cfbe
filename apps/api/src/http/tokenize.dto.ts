import { ArrayNotEmpty, IsArray, IsBoolean, IsInt, IsOptional, IsString, Min } from 'class-validator';

/** POST /tokenize (vLLM's shape): a prompt or chat messages. */
export class TokenizeRequestDto {
  @IsOptional() @IsString() model?: string;
  @IsOptional() @IsString() prompt?: string;
  @IsOptional() @IsArray() @ArrayNotEmpty() messages?: unknown[];
  @IsOptional() @IsBoolean() add_special_tokens?: boolean;
  @IsOptional() @IsBoolean() add_generation_prompt?: boolean;
}

/** POST /detokenize (vLLM's shape). */
export class DetokenizeRequestDto {
  @IsOptional() @IsString() model?: string;
  @IsArray() @IsInt({ each: true }) @Min(0, { each: true }) tokens!: number[];
}
