import { IsArray, IsInt, Min } from 'class-validator';

/** POST /detokenize (admin, debugging). */
export class DetokenizeBody {
  @IsArray() @IsInt({ each: true }) @Min(0, { each: true }) tokens!: number[];
}
