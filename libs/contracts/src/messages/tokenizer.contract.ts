import { Type, type Static } from '@sinclair/typebox';
import { defineMessage, EmptyObject, Int, NonEmptyString, Opt } from '../message.js';

/** How one request's output is turned into text, chosen by the client (OpenAI/vLLM params). */
export const DetokenizeParamsSchema = Type.Object({
  /** Stop strings: the text ends before the first match, which never reaches the client. */
  stop: Opt(Type.Array(Type.String())),
  includeStopStrInOutput: Opt(Type.Boolean()),
  /** Default true. */
  skipSpecialTokens: Opt(Type.Boolean()),
  spacesBetweenSpecialTokens: Opt(Type.Boolean()),
});
export type DetokenizeParams = Static<typeof DetokenizeParamsSchema>;

/**
 * Opens the detokenization stream of one request (one per choice when n > 1) on the tokenizer
 * instance that encodes its prompt. That instance's id then travels in SubmitMessage so the
 * scheduler sends this request's outputs to it: a stream's state is never split.
 */
export const StreamOpenSchema = Type.Object({
  requestId: NonEmptyString(),
  /**
   * Where this request's DeltaBatch entries go: Routes.apiDeltas.at(apiInstanceId).subject (the
   * pattern is that route's; routes.spec checks they agree).
   */
  deltasSubject: Type.String({ pattern: '^deepinfer\\.v1\\.api\\.[^.*>\\s]+\\.deltas$' }),
  detokenize: DetokenizeParamsSchema,
});
export type StreamOpen = Static<typeof StreamOpenSchema>;

/** Routes.tokenizerEncode. Text → token ids (and optionally opens streams). */
export const EncodeRequest = defineMessage(
  'EncodeRequest',
  Type.Object({
    text: Type.String(),
    /** Add BOS/EOS as the tokenizer's post-processor says (default true). */
    addSpecialTokens: Opt(Type.Boolean()),
    /**
     * The prompt as token ids, when the client sent ids instead of text: nothing is encoded
     * (`text` should be ''), the ids are checked against the vocabulary and the length limit, and
     * they prime the streams (so the first output word keeps its leading space). Echoed in the reply.
     */
    promptTokenIds: Opt(Type.Array(Int(0))),
    /**
     * When set, the prompt plus this many output tokens must fit max_model_len (and the prompt
     * must not be empty). Without it, opening streams only needs room for one output token.
     */
    maxTokens: Opt(Int(1)),
    streams: Opt(Type.Array(StreamOpenSchema)),
  }),
);
export type EncodeRequest = Static<typeof EncodeRequest.schema>;

/** Routes.tokenizerChat. OpenAI-shaped messages → chat template → token ids. */
export const ChatRequest = defineMessage(
  'ChatRequest',
  Type.Object({
    /** OpenAI chat messages; roles and content are validated by the tokenizer (clear 400s). */
    messages: Type.Array(Type.Unknown()),
    /** Default true. */
    addGenerationPrompt: Opt(Type.Boolean()),
    tools: Opt(Type.Array(Type.Unknown())),
    /** A literal template overriding the model's. */
    chatTemplate: Opt(Type.String()),
    templateKwargs: Opt(Type.Record(Type.String(), Type.Unknown())),
    addSpecialTokens: Opt(Type.Boolean()),
    maxTokens: Opt(Int(1)),
    streams: Opt(Type.Array(StreamOpenSchema)),
  }),
);
export type ChatRequest = Static<typeof ChatRequest.schema>;

/** Reply to EncodeRequest and ChatRequest. */
export const EncodeReply = defineMessage(
  'EncodeReply',
  Type.Object({
    tokenIds: Type.Array(Int(0)),
    numTokens: Int(0),
    /** The rendered chat prompt (chat only). */
    prompt: Opt(Type.String()),
    /** The model's context length the check used. */
    maxModelLen: Int(1),
    /** The instance that holds the streams opened by this request. */
    tokenizerInstanceId: Type.String(),
  }),
);
export type EncodeReply = Static<typeof EncodeReply.schema>;

/** Routes.tokenizerDecode. */
export const DecodeRequest = defineMessage(
  'DecodeRequest',
  Type.Object({
    tokenIds: Type.Array(Int(0)),
    /** Default true. */
    skipSpecialTokens: Opt(Type.Boolean()),
  }),
);
export type DecodeRequest = Static<typeof DecodeRequest.schema>;

export const DecodeReply = defineMessage('DecodeReply', Type.Object({ text: Type.String() }));
export type DecodeReply = Static<typeof DecodeReply.schema>;

/** Routes.tokenizerInfo. */
export const TokenizerInfoRequest = defineMessage('TokenizerInfoRequest', EmptyObject);
export type TokenizerInfoRequest = Static<typeof TokenizerInfoRequest.schema>;

export const TokenizerInfoReply = defineMessage(
  'TokenizerInfoReply',
  Type.Object({
    vocabSize: Int(1),
    bosTokenId: Type.Union([Type.Integer(), Type.Null()]),
    eosTokenIds: Type.Array(Type.Integer()),
    hasChatTemplate: Type.Boolean(),
    /** The default chat template's source (the api reads the tool-call format from it); null: none. */
    chatTemplate: Type.Union([Type.String(), Type.Null()]),
    maxModelLen: Int(1),
    specialTokens: Type.Array(Type.Object({ id: Type.Integer(), text: Type.String() })),
  }),
);
export type TokenizerInfoReply = Static<typeof TokenizerInfoReply.schema>;

/** Routes.tokenizerClose. Drops streams of requests that will not run. */
export const StreamCloseMessage = defineMessage('StreamCloseMessage', Type.Object({ requestIds: Type.Array(Type.String()) }));
export type StreamCloseMessage = Static<typeof StreamCloseMessage.schema>;
