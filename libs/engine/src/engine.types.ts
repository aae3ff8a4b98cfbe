import type { NativeEngineInfo, NativeSamplingParams, NativeStepOutput, NativeStepSeq, NativeTopLogprobs } from './native-addon.types.js';

export interface EngineOptions {
  /** A model directory, or a Hub id `org/name` resolved through the local Hugging Face cache. */
  model: string;
  /**
   * `cpu` (default), `cuda` (fails clearly when the CUDA backend is not built in or no GPU is
   * usable), or `auto` (CUDA when both, else CPU). `info.backend` says which one runs.
   */
  backend?: 'cpu' | 'cuda' | 'auto';
  /** CUDA: fraction of the device's memory the engine may use; decides the KV blocks when numKvBlocks is 0. */
  gpuMemoryUtilization?: number;
  /** CPU threads; 0 or absent = one per online core. */
  threads?: number;
  /** Tokens per KV block; absent = 16. */
  blockSize?: number;
  /** KV blocks allocated once at load (see cpuKvCacheBlocks); absent: 512 on the CPU, on CUDA as many as gpuMemoryUtilization leaves. */
  numKvBlocks?: number;
  /** Largest step (tokens) the scratch buffers are sized for; larger steps still run. Absent = 2048. */
  maxNumBatchedTokens?: number;
  /** Seed of the engine RNG used by unseeded random sampling. */
  seed?: number | bigint;
}

/** The loaded model and the engine's geometry. Byte counts are Numbers (exact below 2^53). */
export type EngineInfo = Readonly<Omit<NativeEngineInfo, 'eosTokenIds'>> & { readonly eosTokenIds: readonly number[] };

/**
 * Sampling of one sequence (vLLM v1 semantics, see native/README.md). Absent fields are off:
 * greedy, no penalties, no logprobs. `seed` makes the draw a function of (seed, position).
 * `numLogprobs`: absent/-1 none, 0 the sampled token's logprob, N ≤ 20 plus the top N.
 */
export type SamplingParams = NativeSamplingParams;

/**
 * One sequence of a step: a prefill chunk or a decode token. Arrays are typed so that nothing
 * large crosses as JS numbers; the addon copies them before the step starts, so the caller may
 * reuse its buffers as soon as step() returns its Promise.
 *  - tokenIds: tokens to run now, at positions startPos, startPos + 1, …
 *  - blockTable: physical KV block ids covering positions [0, startPos + tokenIds.length)
 *  - sample: sample the next token after the last one of this chunk
 *  - promptIds / outputIds: read only for the penalties; pass them only when one is on
 */
export type StepSequence = NativeStepSeq;

/** Top alternatives of one sampled token, most likely first. */
export type TopLogprobs = NativeTopLogprobs;

/**
 * A step's result, struct-of-arrays indexed like the input sequences: tokenIds[i] is -1 where
 * sequence i did not sample; logprobs[i] is NaN and ranks[i] 0 where none were asked;
 * topLogprobs is present when some sequence asked for numLogprobs > 0.
 */
export type StepOutput = NativeStepOutput;

export interface StepOptions {
  /** Also return the raw last-position logits, [numSeqs × vocabSize] (tests, debugging). */
  logits?: boolean;
}
