import type { FinishReason } from './request-status.js';
import type { TokenLogprobs } from './step-result.js';

/** Per-request timestamps from the scheduler's clock (ms); undefined until reached. */
export interface RequestMetrics {
  readonly arrivalTimeMs: number;
  readonly firstScheduledTimeMs: number | undefined;
  readonly firstTokenTimeMs: number | undefined;
  readonly finishedTimeMs: number | undefined;
  /** Derived: firstScheduled − arrival, firstToken − firstScheduled, finished − firstToken. */
  readonly queueTimeMs: number | undefined;
  readonly prefillTimeMs: number | undefined;
  readonly decodeTimeMs: number | undefined;
  readonly numPreemptions: number;
}

/** One request's share of a step (or its final record after an abort). */
export interface RequestOutput {
  readonly requestId: string;
  /** Tokens appended by this step, [0 or 1]; a stop/EOS token that ended it is included. */
  readonly newTokenIds: readonly number[];
  /** [newTokenIds.length] when the request asked for logprobs. */
  readonly logprobs?: readonly TokenLogprobs[];
  /** Set on the request's last output only. */
  readonly finishReason?: FinishReason;
  /** The token id that ended the request with `stop`, when a token did. */
  readonly stopTokenId?: number;
  /** Usage: prompt tokens, of which served from the prefix cache, and output tokens so far. */
  readonly numPromptTokens: number;
  readonly numCachedTokens: number;
  readonly numOutputTokens: number;
  /** Present on the last output. */
  readonly metrics?: RequestMetrics;
}

/**
 * What one step produced, as one batched record: requests that got a token or finished (a
 * request in the middle of a chunked prefill does not appear).
 */
export interface StepOutputs {
  readonly stepId: number;
  readonly outputs: readonly RequestOutput[];
}
