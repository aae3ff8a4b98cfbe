import type { ExecutorSamplingParams, NewRequestData } from '@deepinfer/contracts';
import type { EngineSampling } from './step-engine.js';

const EMPTY = new Int32Array(0);

/**
 * The executor's copy of one request: its tokens and block table. Invariants: `blockIds` only
 * grows; `numComputedTokens` ≤ tokens.length; each step computes from numComputedTokens, and
 * the scheduler's count must equal ours (a mismatch is a protocol error, never guessed at).
 */
export class ExecutorRequest {
  /** Prompt then outputs, [numPromptTokens + numOutputTokens]. */
  readonly tokens: number[];
  readonly numPromptTokens: number;
  readonly blockIds: number[];
  numComputedTokens: number;
  readonly samplingParams: ExecutorSamplingParams;
  private readonly promptIds: Int32Array;

  readonly requestId: string;

  constructor(data: NewRequestData) {
    this.requestId = data.requestId;
    this.tokens = [...data.promptTokenIds, ...data.outputTokenIds];
    this.numPromptTokens = data.promptTokenIds.length;
    this.blockIds = [...data.blockIds];
    this.numComputedTokens = data.numComputedTokens;
    this.samplingParams = data.samplingParams;
    this.promptIds = Int32Array.from(data.promptTokenIds);
  }

  get numOutputTokens(): number {
    return this.tokens.length - this.numPromptTokens;
  }

  get prompt(): Int32Array {
    return this.promptIds;
  }

  /** The outputs so far, for penalties; empty when no penalty is active (saves a copy per step). */
  outputsForPenalties(): Int32Array {
    const s = this.samplingParams;
    const penalised = (s.presencePenalty ?? 0) !== 0 || (s.frequencyPenalty ?? 0) !== 0 || (s.repetitionPenalty ?? 1) !== 1;
    return penalised ? Int32Array.from(this.tokens.slice(this.numPromptTokens)) : EMPTY;
  }

  /** The engine's sampling settings for the next token (min-tokens bans while below minTokens). */
  engineSampling(): EngineSampling {
    const s = this.samplingParams;
    const bias = new Map<number, number>();
    for (const [id, value] of Object.entries(s.logitBias ?? {})) bias.set(Number(id), value);
    if (this.numOutputTokens < s.minTokens) for (const id of s.minTokensBannedTokenIds) bias.set(id, -Infinity);
    return {
      temperature: s.temperature ?? 1,
      topK: s.topK ?? 0,
      topP: s.topP ?? 1,
      minP: s.minP ?? 0,
      presencePenalty: s.presencePenalty ?? 0,
      frequencyPenalty: s.frequencyPenalty ?? 0,
      repetitionPenalty: s.repetitionPenalty ?? 1,
      seed: s.seed,
      logitBiasIds: Int32Array.from(bias.keys()),
      logitBiasValues: Float32Array.from(bias.values()),
      numLogprobs: s.logprobs ?? -1,
    };
  }
}
