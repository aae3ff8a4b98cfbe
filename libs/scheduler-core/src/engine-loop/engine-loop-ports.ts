import type { GuidedDecoding, RequestOutput, SchedulerOutput, StepOutputsMessage, StepResult } from '@deepinfer/contracts';

/**
 * What the engine loop needs from the outside world; the scheduler service implements it over
 * NATS, tests in memory. Keeping the transport behind this interface keeps the loop (waking,
 * timeouts, failure handling) framework-free and testable without a message bus.
 */
export interface EngineLoopPorts {
  /**
   * Sends one step to the executor listening on `stepSubject` and resolves with its result,
   * already validated (contracts' StepResult). Rejects when no result comes within `timeoutMs`, when
   * nobody serves the subject, when the executor answers with an error envelope or with a
   * malformed result: the loop treats every rejection as the executor's failure.
   */
  sendStep(stepSubject: string, step: SchedulerOutput, timeoutMs: number): Promise<StepResult>;
  /** Publishes one batched message to one tokenizer instance; fire and forget. */
  publishOutputs(tokenizerInstanceId: string, message: StepOutputsMessage): void;
  /**
   * Asks the executor whose step subject is `stepSubject` whether it is alive: `gone` when
   * nobody serves its ping subject any more (the process died: NATS knows at once), `alive` when
   * it answers, `unknown` on a timeout or any other failure. Optional: without it only the
   * heartbeat silence and the step deadline detect a dead executor.
   */
  pingExecutor?(executorId: string): Promise<'alive' | 'gone' | 'unknown'>;
  /**
   * Asks the executor to compile a guided request's grammar (Routes.executorPrepareGuide):
   * `ready` when compiled, `refused` with the executor's message when it cannot be compiled
   * (bad_request), `unknown` on any other failure (timeout, no responders). Optional: without it
   * guided requests go straight to the waiting queue and their first step compiles the grammar.
   */
  prepareGuide?(executorId: string, spec: GuidedDecoding): Promise<GuidePreparation>;
}

/** What the executor said about a grammar (EngineLoopPorts.prepareGuide). */
export type GuidePreparation = { readonly outcome: 'ready' } | { readonly outcome: 'refused' | 'unknown'; readonly message: string };

/** What one step did, for metrics. Counts are this step's own, not running totals. */
export interface StepObservation {
  readonly stepId: number;
  readonly numRequests: number;
  readonly numScheduledTokens: number;
  /** schedule() to the end of update(), including the executor's round trip. */
  readonly durationMs: number;
  /** Prefix-cache lookups of the requests admitted in this step: tokens asked and tokens found. */
  readonly numPrefixQueryTokens: number;
  readonly numPrefixHitTokens: number;
  readonly numPreemptions: number;
}

/**
 * Metric hooks. They run on the loop's path, so each must cost O(1) (a counter increment, a
 * histogram observation), never a walk over all requests.
 */
export interface EngineLoopObserver {
  onStep?(step: StepObservation): void;
  /** Once per request, with its final output (finishReason and metrics set). */
  onRequestFinished?(output: RequestOutput): void;
  onExecutorFailure?(reason: string): void;
}

/** The logging the loop does; @deepinfer/observability's Logger fits it. */
export interface EngineLoopLogger {
  error(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
}
