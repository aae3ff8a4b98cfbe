import type { GuidedDecoding } from '@deepinfer/contracts';

/**
 * What the executor needs from an engine: one batched step. libs/engine's native engine
 * implements it; tests may use a deterministic stand-in. Shapes follow native/include's C API.
 */
export interface EngineSampling {
  /** 0 = greedy. */
  temperature: number;
  /** ≤ 0: off. */
  topK: number;
  topP: number;
  minP: number;
  presencePenalty: number;
  frequencyPenalty: number;
  repetitionPenalty: number;
  /** Undefined: the engine's own generator. */
  seed?: number;
  /** Token ids and their additive biases (minTokens bans are -Infinity biases). */
  logitBiasIds: Int32Array;
  logitBiasValues: Float32Array;
  /** Top alternatives to return with the sampled token's logprob; -1: no logprobs. */
  numLogprobs: number;
  /** Guided decoding: the tokens allowed (ceil(vocab / 32) words); absent: all. */
  allowedTokenMask?: Uint32Array;
}

/** One guided request's grammar state (libs/guided-decoding's GuideMatcher). */
export interface Guide {
  /** Advances by a sampled token; false if the grammar refuses it. */
  accept(tokenId: number): boolean;
  /** The tokens allowed next. */
  nextMask(): Promise<Uint32Array>;
  dispose(): void;
}

/** Makes the guide of a request, advanced over the outputs it already has (a resumed request). */
export type GuideFactory = (spec: GuidedDecoding, outputTokenIds: readonly number[]) => Promise<Guide>;

export interface EngineSequence {
  /** Tokens to compute now, at positions [startPos, startPos + tokenIds.length). */
  tokenIds: Int32Array;
  startPos: number;
  /** Physical KV blocks covering positions [0, startPos + tokenIds.length). */
  blockTable: Int32Array;
  /** Sample a token after the last position. */
  sample: boolean;
  sampling: EngineSampling;
  /** For penalties: the prompt and the outputs so far. */
  promptIds: Int32Array;
  outputIds: Int32Array;
}

export interface EngineSample {
  tokenId: number;
  /** Present when numLogprobs ≥ 0. */
  logprob?: number;
  topIds?: number[];
  topLogprobs?: number[];
}

export interface StepEngine {
  /** Runs one step; returns, per input sequence, its sample (undefined when it did not sample). */
  step(sequences: readonly EngineSequence[]): Promise<(EngineSample | undefined)[]>;
}
