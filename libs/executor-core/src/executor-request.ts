import type { ExecutorSamplingParams, NewRequestData } from '@deepinfer/contracts';
import type { EngineSampling, Guide } from './step-engine.js';

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
  /** blockIds as an Int32Array with spare capacity; the engine copies what it reads, so one buffer serves every step. */
  private blockTableBuffer: Int32Array;
  /** engineSampling()'s answer once it can no longer change (see there). */
  private sampling: EngineSampling | undefined;
  /**
   * Guided decoding: the grammar state, advanced with every token appended; undefined while
   * it is being made (ExecutorState waits for it before the request samples).
   */
  guide: Guide | undefined;
  /** Set when the guide could not be made: the request samples nothing and ends with `error`. */
  guideError: string | undefined;

  constructor(data: NewRequestData) {
    this.requestId = data.requestId;
    this.tokens = [...data.promptTokenIds, ...data.outputTokenIds];
    this.numPromptTokens = data.promptTokenIds.length;
    this.blockIds = [...data.blockIds];
    this.numComputedTokens = data.numComputedTokens;
    this.samplingParams = data.samplingParams;
    this.promptIds = Int32Array.from(data.promptTokenIds);
    this.blockTableBuffer = new Int32Array(Math.max(8, this.blockIds.length * 2));
    this.blockTableBuffer.set(this.blockIds);
  }

  /** Appends blocks to the table (it only grows). */
  appendBlocks(blockIds: readonly number[]): void {
    if (blockIds.length === 0) return;
    const start = this.blockIds.length;
    for (const b of blockIds) this.blockIds.push(b);
    if (this.blockIds.length > this.blockTableBuffer.length) {
      const grown = new Int32Array(this.blockIds.length * 2);
      grown.set(this.blockTableBuffer.subarray(0, start));
      this.blockTableBuffer = grown;
    }
    for (let i = start; i < this.blockIds.length; i++) this.blockTableBuffer[i] = this.blockIds[i]!;
  }

  /** The block table for the engine: a view valid until the next appendBlocks (the engine copies it at step start). */
  get blockTable(): Int32Array {
    return this.blockTableBuffer.subarray(0, this.blockIds.length);
  }

  /** tokens[start, start + count) as a fresh Int32Array. */
  tokenSlice(start: number, count: number): Int32Array {
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.tokens[start + i]!;
    return out;
  }

  get numOutputTokens(): number {
    return this.tokens.length - this.numPromptTokens;
  }

  get prompt(): Int32Array {
    return this.promptIds;
  }

  /**
   * Whether the next decode token can be computed ahead of the scheduler's step (see
   * ExecutorState.speculate): a sampled token is waiting to be computed, its KV slot lies in a
   * block the request already holds (never a new block, never a full one: full blocks may be
   * shared through the prefix cache), and the draw does not consume the engine's shared random
   * generator (greedy, or seeded per request), so a discarded speculation changes nothing.
   */
  canDecodeAhead(blockSize: number): boolean {
    const s = this.samplingParams;
    return (
      this.numComputedTokens === this.tokens.length - 1 &&
      this.numComputedTokens < this.blockIds.length * blockSize &&
      ((s.temperature ?? 1) === 0 || s.seed !== undefined)
    );
  }

  /** Appends a sampled token (and advances the guide). */
  appendSampled(tokenId: number): void {
    this.tokens.push(tokenId);
    this.guide?.accept(tokenId);
  }

  /** The outputs so far, for penalties; empty when no penalty is active (saves a copy per step). */
  outputsForPenalties(): Int32Array {
    const s = this.samplingParams;
    const penalised = (s.presencePenalty ?? 0) !== 0 || (s.frequencyPenalty ?? 0) !== 0 || (s.repetitionPenalty ?? 1) !== 1;
    return penalised ? Int32Array.from(this.tokens.slice(this.numPromptTokens)) : EMPTY;
  }

  /**
   * The engine's sampling settings for the next token (min-tokens bans while below minTokens).
   * They only change when the output count crosses minTokens, so once past it the same object
   * is returned every step (the engine copies what it reads; nobody mutates it).
   */
  engineSampling(): EngineSampling {
    if (this.sampling) return this.sampling;
    const sampling = this.buildSampling();
    if (this.numOutputTokens >= this.samplingParams.minTokens) this.sampling = sampling;
    return sampling;
  }

  private buildSampling(): EngineSampling {
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
