import { Type } from 'class-transformer';
import { IsArray, IsIn, IsInt, IsOptional, IsString, Min, MinLength, ValidateNested, ArrayNotEmpty } from 'class-validator';
import { SamplingParamsMessage } from './sampling.contract.js';

/**
 * Subject: Subjects.replicaSubmit(replicaId) (the router's choice) or Subjects.schedulerSubmit
 * (any replica). A tokenized request; the scheduler answers at once.
 */
export class SubmitMessage {
  /** Unique among live requests; the api assigns it (one per choice when n > 1). */
  @IsString() @MinLength(1) requestId!: string;
  @IsArray() @ArrayNotEmpty() @IsInt({ each: true }) @Min(0, { each: true }) promptTokenIds!: number[];
  @ValidateNested() @Type(() => SamplingParamsMessage) samplingParams!: SamplingParamsMessage;
  /** The tokenizer instance holding this request's stream (EncodeReply.tokenizerInstanceId). */
  @IsString() @MinLength(1) tokenizerInstanceId!: string;
  /** Separates this request's prefix-cache entries from other tenants' (vLLM's cache_salt). */
  @IsOptional() @IsString() cacheSalt?: string;
}

/**
 * Reply to SubmitMessage when accepted. Refusals are error replies: `context_length_exceeded`
 * (400), `bad_request` (400), `overloaded` (queue full or draining: 429/503 + Retry-After),
 * `unavailable` (no executor registered: 503).
 */
export interface SubmitReply {
  accepted: true;
  schedulerInstanceId: string;
  /** The replica that took the request: its death fails the request's stream at the api. */
  replicaId: string;
}

export const FINISH_REASONS = ['stop', 'length', 'abort', 'error'] as const;
export type FinishReason = (typeof FINISH_REASONS)[number];

/** Subject: Subjects.schedulerAbort (publish). Client gone, stop string hit, or an error. */
export class AbortMessage {
  @IsArray() @IsString({ each: true }) requestIds!: string[];
  @IsIn(['abort', 'stop', 'error']) reason!: 'abort' | 'stop' | 'error';
}

/** What the executor's model is; a change of `revision` invalidates the prefix cache. */
export class ModelIdentity {
  /** The served name (e.g. `stories260k`). */
  @IsString() @MinLength(1) name!: string;
  /** A digest of config.json and the weights' headers: part of every prefix-cache hash. */
  @IsString() @MinLength(1) revision!: string;
  @IsInt() @Min(1) vocabSize!: number;
  @IsArray() @IsInt({ each: true }) eosTokenIds!: number[];
  @IsOptional() @IsInt() bosTokenId?: number;
  @IsString() dtype!: string;
}

/**
 * Subject: Subjects.replicaRegister(replicaId): an executor registers with its own replica's
 * scheduler only. Sent by an executor after every start, then again every
 * few seconds (2–5 s) for as long as it runs: the capacity it decided — the scheduler never
 * configures it twice. The scheduler never asks for a registration; the periodic one is how a
 * restarted scheduler (or one that gave the executor up after a failed step) finds it again.
 * The same executorId and epoch again is a heartbeat; a new epoch or another executor replaces
 * the current one (its requests fail with finish reason `error`, the prefix cache is reset).
 */
export class ExecutorRegistration {
  @IsString() @MinLength(1) executorId!: string;
  /** Fresh at every executor start: a new epoch means the KV contents are gone. */
  @IsString() @MinLength(1) epoch!: string;
  @IsInt() @Min(1) numBlocks!: number;
  @IsInt() @Min(1) blockSize!: number;
  @IsInt() @Min(1) maxModelLen!: number;
  /** Largest batch the executor profiled: no step may have more tokens. */
  @IsInt() @Min(1) maxNumBatchedTokens!: number;
  @ValidateNested() @Type(() => ModelIdentity) model!: ModelIdentity;
  /** `cpu` or `cuda:<name>`. */
  @IsString() device!: string;
  /** Where to send steps: Subjects.executorStep(executorId). */
  @IsString() @MinLength(1) stepSubject!: string;
}

export interface RegistrationReply {
  schedulerInstanceId: string;
  /**
   * true: this registration started a new session (first registration, new epoch, another
   * executor, a scheduler restart, or the scheduler gave this executor up after a failed step).
   * The scheduler holds none of the requests the executor may still hold: the executor drops
   * every request's state, and step ids start again from 1. false: a heartbeat, nothing changes.
   */
  newSession: boolean;
}
