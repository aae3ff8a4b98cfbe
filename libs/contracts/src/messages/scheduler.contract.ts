import { Type, type Static } from '@sinclair/typebox';
import { defineMessage, Int, NonEmptyString, OneOf, Opt } from '../message.js';
import { SamplingParamsMessage } from './sampling.contract.js';

/**
 * Routes.replicaSubmit (the router's choice) or Routes.schedulerSubmit (any replica). A
 * tokenized request; the scheduler answers at once.
 */
export const SubmitMessage = defineMessage(
  'SubmitMessage',
  Type.Object({
    /** Unique among live requests; the api assigns it (one per choice when n > 1). */
    requestId: NonEmptyString(),
    promptTokenIds: Type.Array(Int(0), { minItems: 1 }),
    samplingParams: SamplingParamsMessage.schema,
    /** The tokenizer instance holding this request's stream (EncodeReply.tokenizerInstanceId). */
    tokenizerInstanceId: NonEmptyString(),
    /** Separates this request's prefix-cache entries from other tenants' (vLLM's cache_salt). */
    cacheSalt: Opt(Type.String()),
  }),
);
export type SubmitMessage = Static<typeof SubmitMessage.schema>;

/**
 * Reply to SubmitMessage when accepted. Refusals are error replies: `context_length_exceeded`
 * (400), `bad_request` (400), `overloaded` (queue full or draining: 429/503 + Retry-After),
 * `unavailable` (no executor registered: 503).
 */
export const SubmitReply = defineMessage(
  'SubmitReply',
  Type.Object({
    accepted: Type.Literal(true),
    schedulerInstanceId: Type.String(),
    /** The replica that took the request: its death fails the request's stream at the api. */
    replicaId: Type.String(),
  }),
);
export type SubmitReply = Static<typeof SubmitReply.schema>;

export const FINISH_REASONS = ['stop', 'length', 'abort', 'error'] as const;
export type FinishReason = (typeof FINISH_REASONS)[number];

/** Routes.schedulerAbort (publish). Client gone, stop string hit, or an error. */
export const AbortMessage = defineMessage(
  'AbortMessage',
  Type.Object({
    requestIds: Type.Array(Type.String()),
    reason: OneOf(['abort', 'stop', 'error'] as const),
  }),
);
export type AbortMessage = Static<typeof AbortMessage.schema>;

/** What the executor's model is; a change of `revision` invalidates the prefix cache. */
export const ModelIdentitySchema = Type.Object({
  /** The served name (e.g. `stories260k`). */
  name: NonEmptyString(),
  /** A digest of config.json and the weights' headers: part of every prefix-cache hash. */
  revision: NonEmptyString(),
  vocabSize: Int(1),
  eosTokenIds: Type.Array(Type.Integer()),
  bosTokenId: Opt(Type.Integer()),
  dtype: Type.String(),
});
export type ModelIdentity = Static<typeof ModelIdentitySchema>;

/**
 * Routes.replicaRegister: an executor registers with its own replica's scheduler only. Sent by
 * an executor after every start, then again every few seconds (2–5 s) for as long as it runs:
 * the capacity it decided — the scheduler never configures it twice. The scheduler never asks
 * for a registration; the periodic one is how a restarted scheduler (or one that gave the
 * executor up after a failed step) finds it again. The same executorId and epoch again is a
 * heartbeat; a new epoch or another executor replaces the current one (its requests fail with
 * finish reason `error`, the prefix cache is reset).
 */
export const ExecutorRegistration = defineMessage(
  'ExecutorRegistration',
  Type.Object({
    executorId: NonEmptyString(),
    /** Fresh at every executor start: a new epoch means the KV contents are gone. */
    epoch: NonEmptyString(),
    numBlocks: Int(1),
    blockSize: Int(1),
    maxModelLen: Int(1),
    /** Largest batch the executor profiled: no step may have more tokens. */
    maxNumBatchedTokens: Int(1),
    model: ModelIdentitySchema,
    /** `cpu` or `cuda:<name>`. */
    device: Type.String(),
    /** Where to send steps: Routes.executorStep.at(executorId).subject. */
    stepSubject: NonEmptyString(),
  }),
);
export type ExecutorRegistration = Static<typeof ExecutorRegistration.schema>;

export const RegistrationReply = defineMessage(
  'RegistrationReply',
  Type.Object({
    schedulerInstanceId: Type.String(),
    /**
     * true: this registration started a new session (first registration, new epoch, another
     * executor, a scheduler restart, or the scheduler gave this executor up after a failed step).
     * The scheduler holds none of the requests the executor may still hold: the executor drops
     * every request's state, and step ids start again from 1. false: a heartbeat, nothing changes.
     */
    newSession: Type.Boolean(),
  }),
);
export type RegistrationReply = Static<typeof RegistrationReply.schema>;
