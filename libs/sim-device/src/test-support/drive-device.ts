import type { EngineSampling, EngineSequence } from '@deepinfer/executor-core';
import type { SimulatedDevice } from '../device/simulated-device.js';

const NO_IDS = new Int32Array(0);

export function sampling(overrides: Partial<EngineSampling> = {}): EngineSampling {
  return {
    temperature: 0,
    topK: 0,
    topP: 1,
    minP: 0,
    presencePenalty: 0,
    frequencyPenalty: 0,
    repetitionPenalty: 1,
    logitBiasIds: new Int32Array(0),
    logitBiasValues: new Float32Array(0),
    numLogprobs: -1,
    ...overrides,
  };
}

export function sequence(tokenIds: readonly number[], startPos: number, blockTable: readonly number[], sample = true, samplingParams = sampling()): EngineSequence {
  return {
    tokenIds: Int32Array.from(tokenIds),
    startPos,
    blockTable: Int32Array.from(blockTable),
    sample,
    sampling: samplingParams,
    promptIds: NO_IDS,
    outputIds: NO_IDS,
  };
}

/** One request as the driver runs it: its tokens (prompt, then outputs) and block table. */
export interface DrivenRequest {
  readonly tokens: number[];
  readonly blockTable: number[];
  readonly numPromptTokens: number;
  numComputed: number;
  readonly sampling: EngineSampling;
}

export interface GenerateOptions {
  /** Outputs per request. */
  readonly numTokens: number;
  /** Largest prefill chunk (default: whole). */
  readonly chunk?: number;
  /** Where each request's blocks come from (default: a counter shared by all requests, from 0). */
  readonly allocateBlock?: () => number;
  /** Per-request sampling (default greedy). */
  readonly sampling?: (index: number) => EngineSampling;
  /** Start with these blocks already filled for request i (a prefix-cache hit): table and tokens computed. */
  readonly cachedPrefix?: (index: number) => { blockTable: number[]; numTokens: number } | undefined;
}

/**
 * Runs requests to numTokens outputs each, all in one batch per step like a scheduler would
 * (prefill chunks and decodes mixed), through computeStep (no waiting). Returns the outputs.
 */
export function generate(device: SimulatedDevice, prompts: readonly (readonly number[])[], options: GenerateOptions): number[][] {
  const blockSize = device.info.blockSize;
  let nextBlock = 0;
  const allocate = options.allocateBlock ?? (() => nextBlock++);
  const requests: DrivenRequest[] = prompts.map((prompt, i) => {
    const hit = options.cachedPrefix?.(i);
    return {
      tokens: [...prompt],
      blockTable: hit ? [...hit.blockTable] : [],
      numPromptTokens: prompt.length,
      numComputed: hit ? hit.numTokens : 0,
      sampling: options.sampling?.(i) ?? sampling(),
    };
  });
  const done = (r: DrivenRequest) => r.tokens.length - r.numPromptTokens >= options.numTokens;
  while (!requests.every(done)) {
    const live = requests.filter((r) => !done(r));
    const batch = live.map((r) => {
      const count = Math.min(options.chunk ?? Infinity, r.tokens.length - r.numComputed);
      const end = r.numComputed + count;
      while (r.blockTable.length * blockSize < end) r.blockTable.push(allocate());
      return { r, count, seq: sequence(r.tokens.slice(r.numComputed, end), r.numComputed, r.blockTable, end === r.tokens.length, r.sampling) };
    });
    const { samples } = device.computeStep(batch.map((b) => b.seq));
    batch.forEach(({ r, count }, i) => {
      r.numComputed += count;
      const sample = samples[i];
      if (sample) r.tokens.push(sample.tokenId);
    });
  }
  return requests.map((r) => r.tokens.slice(r.numPromptTokens, r.numPromptTokens + options.numTokens));
}

/** Deterministic pseudo-random prompt of `length` ids in [3, vocabSize). */
export function prompt(seed: number, length: number, vocabSize = 1000): number[] {
  let x = seed * 2654435761 + 1;
  return Array.from({ length }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return 3 + ((x >>> 8) % (vocabSize - 3));
  });
}
