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
  /**
   * Guided decoding: the tokens allowed (ceil(vocab / 32) words); absent: all. The executor never
   * sets it up front: a guided sequence's mask comes with the step's StepMasks (see there).
   */
  allowedTokenMask?: Uint32Array;
}

/** One guided request's grammar state (libs/guided-decoding's GuideMatcher). */
export interface Guide {
  /** Advances by a sampled token; false if the grammar refuses it. */
  accept(tokenId: number): boolean;
  /**
   * The tokens allowed next. The array stays valid while the next step's masks are computed, not
   * longer (a worker pool writes masks into two shared buffers used in turn); the executor runs
   * one engine step at a time, so the engine has read it by then.
   */
  nextMask(): Promise<Uint32Array>;
  /** Milliseconds the last nextMask() computed (its accepts included), queueing excluded; for metrics. */
  readonly lastMaskMs?: number;
  dispose(): void;
}

/** Makes the guide of a request, advanced over the outputs it already has (a resumed request). */
export type GuideFactory = (spec: GuidedDecoding, outputTokenIds: readonly number[]) => Promise<Guide>;

/**
 * Makes sure the grammar of a spec is compiled where the GuideFactory will look for it, and is
 * kept there until the spec's guide is made (a promise to the scheduler, which admits the request
 * only once this resolves), making no guide. Rejects with GrammarRefusedError when the grammar
 * itself cannot be compiled (the request's fault); any other rejection is the executor's own
 * failure.
 */
export type GuidePreparer = (spec: GuidedDecoding) => Promise<void>;

/** A GuidePreparer's rejection: the grammar cannot be compiled against the model's vocabulary. */
export class GrammarRefusedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GrammarRefusedError';
  }
}

export interface EngineSequence {
  /** Tokens to compute now, at positions [startPos, startPos + tokenIds.length). */
  tokenIds: Int32Array;
  startPos: number;
  /** Physical KV blocks covering positions [0, startPos + tokenIds.length). */
  blockTable: Int32Array;
  /** Sample a token after the last position. */
  sample: boolean;
  /**
   * Guided decoding: the sample must follow this sequence's entry of the step's StepMasks. An
   * engine never samples a guided sequence without a mask: a missing, refused or failed mask
   * means no sample (the scheduler then ends the request with finish reason `error`).
   */
  guided?: boolean;
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

/**
 * A sequence's mask in StepMasks: the allowed tokens, `'refuse'` (sample nothing: the mask could
 * not be computed), or undefined (not guided).
 */
export type RowMask = Uint32Array | 'refuse' | undefined;

/**
 * The guided masks of one step, delivered while the forward pass runs (as vLLM and SGLang
 * overlap grammar work with the GPU): the engine starts the forward pass at once and waits for
 * `masks` only before sampling.
 */
export interface StepMasks {
  /**
   * One entry per sequence of the step. The executor's promise never rejects (a failed mask is
   * `'refuse'`); should one reject anyway, the engine samples no guided sequence of the step and
   * still answers (it is never left waiting).
   */
  readonly masks: Promise<readonly RowMask[]>;
  /**
   * Written by the engine before step() resolves: how long sampling waited for `masks` after the
   * forward pass (0 when they were already there). What shows whether the overlap works.
   */
  waitedMs?: number;
}

export interface StepEngine {
  /**
   * Runs one step; returns, per input sequence, its sample (undefined when it did not sample).
   * Without `masks`, guided sequences sample nothing.
   */
  step(sequences: readonly EngineSequence[], masks?: StepMasks): Promise<(EngineSample | undefined)[]>;
}

/**
 * The sampling of sequence `i` under the step's masks, or undefined when it must not sample (a
 * guided sequence without a mask). For engines: the one rule of StepMasks.
 */
export function maskedSampling(sequence: EngineSequence, mask: RowMask): EngineSampling | undefined {
  if (mask === 'refuse') return undefined;
  if (mask === undefined) return sequence.guided ? undefined : sequence.sampling;
  return { ...sequence.sampling, allowedTokenMask: mask };
}

/**
 * StepMasks.masks settled: the entries, or none when absent, rejected or of the wrong length
 * (then every guided sequence samples nothing, the others sample as usual).
 */
export async function settledMasks(masks: StepMasks | undefined, count: number): Promise<readonly RowMask[]> {
  const none = () => new Array<RowMask>(count).fill(undefined);
  if (!masks) return none();
  try {
    const rows = await masks.masks;
    return rows.length === count ? rows : none();
  } catch {
    return none();
  }
}
