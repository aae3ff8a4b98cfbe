import type { ErrorCode } from '../protocol.js';
import type { FinishReason } from './scheduler.contract.js';
import type { TokenLogprobs } from './step.contract.js';

/** Per-request timestamps from the scheduler's clock (ms, one process: comparable). */
export interface RequestMetrics {
  readonly arrivalTimeMs: number;
  readonly firstScheduledTimeMs: number | undefined;
  readonly firstTokenTimeMs: number | undefined;
  readonly finishedTimeMs: number | undefined;
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
  /** Why the request failed, when finishReason is `error` (passed on in StreamDelta.error). */
  readonly error?: string;
}

/**
 * Subject: Subjects.tokenizerOutputs(instance). What one step produced for the requests whose
 * streams that tokenizer instance holds: ONE message per step per tokenizer instance.
 */
export interface StepOutputsMessage {
  readonly stepId: number;
  readonly outputs: readonly RequestOutput[];
}

/** A sampled token with text, for OpenAI logprobs. */
export interface DeltaTokenLogprob {
  readonly tokenId: number;
  /** The token's text (may be a partial UTF-8 character, as OpenAI shows it). */
  readonly token: string;
  readonly logprob: number;
  readonly top: readonly { readonly tokenId: number; readonly token: string; readonly logprob: number }[];
}

/** One request's new text. Deltas of a request are numbered 0, 1, 2, … (`seq`); the last has finishReason. */
export interface StreamDelta {
  readonly requestId: string;
  /** Position of this delta in the request's stream: a gap means a lost message. */
  readonly seq: number;
  /** New text, valid UTF-8, stop strings removed. May be empty (held back, or a finish-only delta). */
  readonly text: string;
  /** The token ids this delta covers. */
  readonly tokenIds: readonly number[];
  readonly logprobs?: readonly DeltaTokenLogprob[];
  readonly finishReason?: FinishReason;
  /** The stop string or stop token id that finished the request (vLLM's stop_reason). */
  readonly stopReason?: string | number;
  /** Present with finishReason. */
  readonly usage?: { readonly numPromptTokens: number; readonly numCachedTokens: number; readonly numOutputTokens: number };
  /** Present when finishReason is `error`. */
  readonly error?: string;
  /**
   * With `error`, when the failure has a protocol code (`unavailable`: a service or the replica
   * the request ran on was lost): the api answers with that code's status (503, retry) instead
   * of a 500. Absent: the request itself failed.
   */
  readonly errorCode?: ErrorCode;
}

/** Subject: Subjects.apiDeltas(instance). All deltas one detokenized step produced for that api instance. */
export interface DeltaBatchMessage {
  readonly deltas: readonly StreamDelta[];
}
