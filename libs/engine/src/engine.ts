import { EngineError, toEngineError } from './engine.errors.js';
import type { EngineInfo, EngineOptions, RowMask, StepOptions, StepOutput, StepSequence } from './engine.types.js';
import { loadNativeAddon } from './native-addon.loader.js';
import type { NativeEngine } from './native-addon.types.js';

/**
 * One loaded model with its KV cache. The caller owns block allocation (which blocks a
 * sequence's positions live in); the engine carries out steps. One step at a time: a step
 * started while another runs is rejected (EngineError), never queued, because the scheduler
 * decides what runs next, not the engine.
 */
export class Engine {
  readonly info: EngineInfo;

  private constructor(private readonly native: NativeEngine) {
    const info = native.info();
    this.info = Object.freeze({ ...info, eosTokenIds: Object.freeze(info.eosTokenIds) });
  }

  /** @internal used by loadEngine */
  static wrap(native: NativeEngine): Engine {
    return new Engine(native);
  }

  /**
   * Decode-step CUDA graphs captured so far (0 on the CPU backend): unlike `info`, read from the
   * engine now (as of the last completed step).
   */
  get cudaGraphsCaptured(): number {
    return this.native.info().cudaGraphsCaptured;
  }

  /** A step is running (its Promise has not settled). */
  get busy(): boolean {
    return this.native.busy;
  }

  get closed(): boolean {
    return this.native.closed;
  }

  /** The step in flight has maskLater rows and awaits supplyMasks. */
  get awaitingMasks(): boolean {
    return this.native.awaitingMasks;
  }

  /**
   * Runs one forward step on a worker thread (the event loop stays free). Rejects with the
   * engine's message on invalid input (a token outside the vocabulary, a block table too short
   * for the positions, …); the engine stays usable afterwards.
   */
  async step(seqs: readonly StepSequence[], options?: StepOptions): Promise<StepOutput> {
    try {
      return await this.native.step(seqs, options);
    } catch (error) {
      throw toEngineError(error);
    }
  }

  /**
   * Masks later (guided decoding overlapped with the forward pass): a step whose sequences have
   * `maskLater` starts at once and, after its forward pass, waits on its worker thread for this
   * call: one entry per sequence of the step, a Uint32Array for a maskLater row (ceil(vocab / 32)
   * words) or 'refuse' / undefined / null (that row samples nothing: tokenIds[i] = -1). The masks
   * are copied before it returns. Whoever starts such a step must always call it (in a
   * `finally`): the step waits until then (or close()). Throws (EngineError) when no step awaits
   * masks; an invalid argument refuses every maskLater row, releasing the step, then throws.
   */
  supplyMasks(masks: readonly RowMask[]): void {
    try {
      this.native.supplyMasks(masks);
    } catch (error) {
      throw toEngineError(error);
    }
  }

  /**
   * Frees the weights and KV cache; a step in flight completes first, then the memory goes. A
   * step waiting for its masks is released (its maskLater rows sample nothing).
   */
  close(): void {
    this.native.close();
  }
}

/** Loads a model (on a worker thread) and allocates its KV cache. */
export async function loadEngine(options: EngineOptions): Promise<Engine> {
  const addon = loadNativeAddon();
  if (typeof options?.model !== 'string' || options.model.length === 0) throw new EngineError('loadEngine: options.model must be a non-empty string');
  try {
    return Engine.wrap(
      await addon.createEngine(options),
    );
  } catch (error) {
    throw toEngineError(error);
  }
}

/** The CPU kernel path the engine chose for this machine: "avx512", "avx2" or "scalar". */
export function cpuKernelPath(): string {
  return loadNativeAddon().cpuKernelPath();
}
