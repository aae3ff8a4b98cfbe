import { Type, type Static } from '@sinclair/typebox';
import { defineMessage, Int, NonEmptyString, Opt, ReadonlyArray } from '../message.js';

/**
 * Guided (structured) decoding of one request: the output must match this. The api has checked
 * and normalised it (a JSON schema arrives as its JSON text, already rewritten to what the
 * grammar engine enforces exactly, see libs/guided-decoding); the executor compiles it against
 * the model's vocabulary and masks every sampled token with it.
 */
export const GuidedDecodingSchema = Type.Union([
  Type.Object({ kind: Type.Literal('json_object') }),
  Type.Object({ kind: Type.Literal('json_schema'), schema: NonEmptyString(), strict: Type.Boolean() }),
  Type.Object({ kind: Type.Literal('regex'), pattern: NonEmptyString() }),
  Type.Object({ kind: Type.Literal('choice'), choices: ReadonlyArray(NonEmptyString(), { minItems: 1 }) }),
  /** An xgrammar structural tag (JSON text): how tool calls are constrained. */
  Type.Object({ kind: Type.Literal('structural_tag'), tag: NonEmptyString() }),
]);
export type GuidedDecoding = Readonly<Static<typeof GuidedDecodingSchema>>;

/**
 * The one identity of a guided-decoding spec, shared by the executor's grammar caches and the
 * scheduler's set of prepared grammars: its JSON as it travels. Key order is part of it (a JSON
 * schema's property order is the output's order), so specs differing only in order compile apart.
 */
export function guidedDecodingKey(spec: GuidedDecoding): string {
  return JSON.stringify(spec);
}

export const GUIDED_DECODING_KINDS = ['json_object', 'json_schema', 'regex', 'choice', 'structural_tag'] as const;

/** Token id (decimal string) → bias added to its logit. */
const LogitBias = Type.Record(Type.String(), Type.Number());

/**
 * A request's sampling and stopping parameters as the api validated them (OpenAI ranges are
 * the api's business; here: types and sane bounds). Crosses once, in SubmitMessage.
 */
export const SamplingParamsMessage = defineMessage(
  'SamplingParamsMessage',
  Type.Object({
    /** Most output tokens (≥ 1); also capped by the model's context length. */
    maxTokens: Int(1),
    /** EOS and stop token ids cannot end the request before this many output tokens. */
    minTokens: Opt(Int(0)),
    /** Token ids that end the request with finish reason `stop`, besides the model's EOS ids. */
    stopTokenIds: Opt(Type.Array(Int(0))),
    ignoreEos: Opt(Type.Boolean()),
    /** 0 = greedy. */
    temperature: Opt(Type.Number({ minimum: 0 })),
    topP: Opt(Type.Number({ minimum: 0, maximum: 1 })),
    /** 0 or -1 = off. */
    topK: Opt(Type.Integer({ minimum: -1 })),
    minP: Opt(Type.Number({ minimum: 0, maximum: 1 })),
    seed: Opt(Type.Integer()),
    presencePenalty: Opt(Type.Number()),
    frequencyPenalty: Opt(Type.Number()),
    repetitionPenalty: Opt(Type.Number({ exclusiveMinimum: 0 })),
    /** Token id (decimal string) → bias added to its logit. */
    logitBias: Opt(LogitBias),
    /** Top logprobs to return per output token (0 = only the sampled token's); absent: none. */
    logprobs: Opt(Int(0, { maximum: 20 })),
    /** Guided decoding: every output token is masked to keep the output matching this. */
    guided: Opt(GuidedDecodingSchema),
  }),
);
export type SamplingParamsMessage = Static<typeof SamplingParamsMessage.schema>;

/**
 * The sampling parameters as the executor receives them, once per request (in
 * SchedulerOutput.newRequests). The executor counts output tokens itself: while
 * numOutputTokens < minTokens it never samples a token of `minTokensBannedTokenIds` (EOS unless
 * ignoreEos, plus stop token ids).
 */
export const ExecutorSamplingParamsSchema = Type.Object({
  temperature: Opt(Type.Number()),
  topP: Opt(Type.Number()),
  topK: Opt(Type.Integer({ minimum: -1 })),
  minP: Opt(Type.Number()),
  seed: Opt(Type.Integer()),
  presencePenalty: Opt(Type.Number()),
  frequencyPenalty: Opt(Type.Number()),
  repetitionPenalty: Opt(Type.Number()),
  logitBias: Opt(LogitBias),
  logprobs: Opt(Int(0)),
  minTokens: Int(0),
  minTokensBannedTokenIds: ReadonlyArray(Int(0)),
  /** Guided decoding (see GuidedDecoding): the executor masks each sampled token with it. */
  guided: Opt(GuidedDecodingSchema),
});
export type ExecutorSamplingParams = Readonly<Static<typeof ExecutorSamplingParamsSchema>>;

/**
 * Scheduler → executor (Routes.executorPrepareGuide): compile this grammar against the model's
 * vocabulary now (and build the token tables on the first one), before the request enters a
 * step, so that no step waits for a compile. A grammar the executor cannot compile is answered
 * with ProtocolError(bad_request) naming the problem.
 */
export const PrepareGuideRequest = defineMessage('PrepareGuideRequest', Type.Object({ guided: GuidedDecodingSchema }));
export type PrepareGuideRequest = Static<typeof PrepareGuideRequest.schema>;

/** Reply to Routes.executorPrepareGuide: the grammar is compiled and cached on the executor. */
export const PrepareGuideReply = defineMessage('PrepareGuideReply', Type.Object({ ok: Type.Literal(true) }));
export type PrepareGuideReply = Static<typeof PrepareGuideReply.schema>;
