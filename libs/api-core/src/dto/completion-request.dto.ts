import { IsBoolean, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { IsPrompt } from './custom-validators.js';
import { GenerationRequestDto } from './generation-request.dto.js';

/** POST /v1/completions. */
export class CompletionRequestDto extends GenerationRequestDto {
  @IsPrompt() prompt!: string | string[] | number[] | number[][];
  /** Return the prompt before the completion. */
  @IsOptional() @IsBoolean() echo?: boolean;
  /** Top logprobs per token (0–20), in the completions shape. */
  @IsOptional() @IsInt() @Min(0) @Max(20) logprobs?: number;
  /** Not supported: a non-empty suffix is refused. */
  @IsOptional() @IsString() suffix?: string;
}
