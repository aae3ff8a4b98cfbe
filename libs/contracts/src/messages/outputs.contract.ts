import { Type, type Static } from '@sinclair/typebox';
import { defineMessage, Int, NonEmptyString, OneOf, Opt, ReadonlyArray } from '../message.js';
import { ErrorCodes, type ErrorCode } from '../protocol.js';
import { FINISH_REASONS } from './scheduler.contract.js';
import { TokenLogprobsSchema } from './step.contract.js';

const FinishReasonSchema = OneOf(FINISH_REASONS);
const ErrorCodeSchema = Type.Unsafe<ErrorCode>(Type.Union(Object.values(ErrorCodes).map((code) => Type.Literal(code))));

/** Per-request timestamps from the scheduler's clock (ms, one process: comparable). */
export const RequestMetricsSchema = Type.Object({
  arrivalTimeMs: Type.Number(),
  firstScheduledTimeMs: Opt(Type.Number()),
  firstTokenTimeMs: Opt(Type.Number()),
  finishedTimeMs: Opt(Type.Number()),
  queueTimeMs: Opt(Type.Number()),
  prefillTimeMs: Opt(Type.Number()),
  decodeTimeMs: Opt(Type.Number()),
  numPreemptions: Int(0),
});
export type RequestMetrics = Readonly<Static<typeof RequestMetricsSchema>>;

/** One request's share of a step (or its final record after an abort). */
export const RequestOutputSchema = Type.Object({
  requestId: NonEmptyString(),
  /** Tokens appended by this step, [0 or 1]; a stop/EOS token that ended it is included. */
  newTokenIds: ReadonlyArray(Int(0)),
  /** [newTokenIds.length] when the request asked for logprobs. */
  logprobs: Opt(ReadonlyArray(TokenLogprobsSchema)),
  /** Set on the request's last output only. */
  finishReason: Opt(FinishReasonSchema),
  /** The token id that ended the request with `stop`, when a token did. */
  stopTokenId: Opt(Int(0)),
  /** Usage: prompt tokens, of which served from the prefix cache, and output tokens so far. */
  numPromptTokens: Int(0),
  numCachedTokens: Int(0),
  numOutputTokens: Int(0),
  /** Present on the last output. */
  metrics: Opt(RequestMetricsSchema),
  /** Why the request failed, when finishReason is `error` (passed on in StreamDelta.error). */
  error: Opt(Type.String()),
  /**
   * With `error`, when the failure has a protocol code (passed on in StreamDelta.errorCode):
   * `bad_request` when the executor refused the request's grammar. Absent: the request failed
   * in the engine (a 500 at the api).
   */
  errorCode: Opt(ErrorCodeSchema),
});
export type RequestOutput = Readonly<Static<typeof RequestOutputSchema>>;

/**
 * Routes.tokenizerOutputs: what one step produced for the requests whose streams that
 * tokenizer instance holds: ONE message per step per tokenizer instance.
 */
export const StepOutputsMessage = defineMessage(
  'StepOutputsMessage',
  Type.Object({
    stepId: Int(0),
    outputs: ReadonlyArray(RequestOutputSchema),
  }),
  { unknownFields: 'keep' },
);
export type StepOutputsMessage = Readonly<Static<typeof StepOutputsMessage.schema>>;

const TopLogprob = Type.Object({ tokenId: Int(0), token: Type.String(), logprob: Type.Number() });

/** A sampled token with text, for OpenAI logprobs. */
export const DeltaTokenLogprobSchema = Type.Object({
  tokenId: Int(0),
  /** The token's text (may be a partial UTF-8 character, as OpenAI shows it). */
  token: Type.String(),
  logprob: Type.Number(),
  top: ReadonlyArray(TopLogprob),
});
export type DeltaTokenLogprob = Readonly<Static<typeof DeltaTokenLogprobSchema>>;

/** One request's new text. Deltas of a request are numbered 0, 1, 2, … (`seq`); the last has finishReason. */
export const StreamDeltaSchema = Type.Object({
  requestId: NonEmptyString(),
  /** Position of this delta in the request's stream: a gap means a lost message. */
  seq: Int(0),
  /** New text, valid UTF-8, stop strings removed. May be empty (held back, or a finish-only delta). */
  text: Type.String(),
  /** The token ids this delta covers. */
  tokenIds: ReadonlyArray(Int(0)),
  logprobs: Opt(ReadonlyArray(DeltaTokenLogprobSchema)),
  finishReason: Opt(FinishReasonSchema),
  /** The stop string or stop token id that finished the request (vLLM's stop_reason). */
  stopReason: Opt(Type.Union([Type.String(), Type.Number()])),
  /** Present with finishReason. */
  usage: Opt(Type.Object({ numPromptTokens: Int(0), numCachedTokens: Int(0), numOutputTokens: Int(0) })),
  /** Present when finishReason is `error`. */
  error: Opt(Type.String()),
  /**
   * With `error`, when the failure has a protocol code: `unavailable` (a service or the replica
   * the request ran on was lost: 503, retry), `bad_request` (the executor refused the request's
   * grammar, RequestOutput.errorCode: 400). The api answers with that code's status instead of a
   * 500. Absent: the request itself failed.
   */
  errorCode: Opt(ErrorCodeSchema),
});
export type StreamDelta = Readonly<Static<typeof StreamDeltaSchema>>;

/** Routes.apiDeltas: all deltas one detokenized step produced for that api instance. */
export const DeltaBatchMessage = defineMessage('DeltaBatchMessage', Type.Object({ deltas: ReadonlyArray(StreamDeltaSchema) }), { unknownFields: 'keep' });
export type DeltaBatchMessage = Readonly<Static<typeof DeltaBatchMessage.schema>>;
