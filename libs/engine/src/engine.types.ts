import type { NativeEngineConfig, NativeEngineInfo, NativeRowMask, NativeSamplingParams as AddonSamplingParams, NativeStepOutput, NativeStepSeq, NativeTopLogprobs } from './native-addon.types.js';

/**
 * How to load an engine: exactly what the addon's createEngine takes (documented field by
 * field in native-addon.types.ts); loadEngine passes it through.
 */
export type EngineOptions = NativeEngineConfig;

/** The loaded model and the engine's geometry. Byte counts are Numbers (exact below 2^53). */
export type EngineInfo = Readonly<Omit<NativeEngineInfo, 'eosTokenIds'>> & { readonly eosTokenIds: readonly number[] };

/**
 * Sampling of one sequence (vLLM v1 semantics, see native/README.md). Absent fields are off:
 * greedy, no penalties, no logprobs. `seed` makes the draw a function of (seed, position).
 * `numLogprobs`: absent/-1 none, 0 the sampled token's logprob, N ≤ 20 plus the top N.
 * The last of the sampling types along the request path (docs/architecture.md, "Sampling
 * parameters, layer by layer"): the executor maps its EngineSampling to this one.
 */
export type NativeSamplingParams = AddonSamplingParams;

/**
 * One sequence of a step: a prefill chunk or a decode token. Arrays are typed so that nothing
 * large crosses as JS numbers; the addon copies them before the step starts, so the caller may
 * reuse its buffers as soon as step() returns its Promise.
 *  - tokenIds: tokens to run now, at positions startPos, startPos + 1, …
 *  - blockTable: physical KV block ids covering positions [0, startPos + tokenIds.length)
 *  - sample: sample the next token after the last one of this chunk
 *  - promptIds / outputIds: read only for the penalties; pass them only when one is on
 *  - maskLater: guided decoding; the row's mask comes during the step (Engine.supplyMasks)
 */
export type StepSequence = NativeStepSeq;

/** A sequence's entry in Engine.supplyMasks: its mask, or 'refuse' / undefined / null (no sample). */
export type RowMask = NativeRowMask;

/** Top alternatives of one sampled token, most likely first. */
export type TopLogprobs = NativeTopLogprobs;

/**
 * A step's result, struct-of-arrays indexed like the input sequences: tokenIds[i] is -1 where
 * sequence i did not sample; logprobs[i] is NaN and ranks[i] 0 where none were asked;
 * topLogprobs is present when some sequence asked for numLogprobs > 0; masksWaitMs when some
 * sequence had maskLater (how long sampling waited for supplyMasks, measured by the engine).
 */
export type StepOutput = NativeStepOutput;

export interface StepOptions {
  /** Also return the raw last-position logits, [numSeqs × vocabSize] (tests, debugging). */
  logits?: boolean;
}
