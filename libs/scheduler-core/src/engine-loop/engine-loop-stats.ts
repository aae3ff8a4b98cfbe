import type { SchedulerStats } from '../scheduler-stats.js';

/** The registered executor, as /stats and health show it. */
export interface ExecutorInfo {
  readonly executorId: string;
  readonly epoch: string;
  readonly device: string;
  readonly modelName: string;
  readonly modelRevision: string;
  readonly numBlocks: number;
  readonly blockSize: number;
  /** The context length in force: min(the service's max_model_len, the model's). */
  readonly maxModelLen: number;
  /** The step budget in force: min(the service's, the executor's profiled maximum). */
  readonly maxNumBatchedTokens: number;
  /** Milliseconds since its registration and since its last heartbeat (a repeated registration). */
  readonly registeredForMs: number;
  readonly lastSeenMsAgo: number;
}

/** A snapshot for the admin /stats route; plain data. */
export interface EngineLoopStats {
  /** null: no executor is registered, submits are refused `unavailable`. */
  readonly executor: ExecutorInfo | null;
  readonly draining: boolean;
  /** Steps per second over the last steps; 0 when idle. */
  readonly stepsPerSecond: number;
  /** Executors lost (no answer, error answer, broken result) since the service started. */
  readonly numExecutorFailuresTotal: number;
  /** The current executor's scheduler; null without one. Its totals count since that registration. */
  readonly scheduler: SchedulerStats | null;
}
