import type { Engine, NativeSamplingParams, RowMask as NativeRowMask, StepSequence } from '@deepinfer/engine';
import { settledMasks, type EngineSample, type EngineSampling, type EngineSequence, type StepEngine, type StepMasks } from '@deepinfer/executor-core';

/**
 * Adapts the native engine (struct-of-arrays results) to executor-core's StepEngine. Penalty
 * context crosses only when a penalty is on (executor-core passes empty arrays otherwise).
 *
 * Guided masks overlap the forward pass: a guided sequence goes to the engine with `maskLater`,
 * so the step starts at once and its worker thread waits for supplyMasks only between the
 * start of the forward pass and sampling (CPU backend: after the forward pass; CUDA backend:
 * while the GPU runs it). This adapter always supplies, once the StepMasks have settled: a
 * guided sequence without a mask ('refuse', a rejected or absent StepMasks) is refused and
 * samples nothing (maskedSampling's rule). StepMasks.waitedMs is the engine's own measure of how
 * long sampling waited for the masks after the forward pass (CPU: the worker thread's time
 * blocked; CUDA: the GPU's idle time before sampling).
 */
export class NativeStepEngine implements StepEngine {
  constructor(private readonly engine: Engine) {}

  async step(sequences: readonly EngineSequence[], masks?: StepMasks): Promise<(EngineSample | undefined)[]> {
    const maskLater = sequences.map((s) => s.sample && s.guided === true);
    const seqs: StepSequence[] = sequences.map((s, i) => ({
      tokenIds: s.tokenIds,
      startPos: s.startPos,
      blockTable: s.blockTable,
      sample: s.sample,
      sampling: nativeSamplingOf(s.sampling),
      promptIds: s.outputIds.length > 0 ? s.promptIds : undefined,
      outputIds: s.outputIds.length > 0 ? s.outputIds : undefined,
      ...(maskLater[i] ? { maskLater: true } : {}),
    }));
    const stepping = this.engine.step(seqs);
    if (maskLater.some(Boolean)) {
      stepping.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      let rows: NativeRowMask[] | undefined;
      try {
        const entries = await settledMasks(masks, sequences.length);
        rows = maskLater.map((later, i) => {
          const entry = entries[i];
          return later ? (entry === undefined || entry === 'refuse' ? 'refuse' : entry) : undefined;
        });
      } finally {
        // Always release the step (it waits on its worker thread until supplied); a step that
        // already failed (invalid input) awaits nothing any more.
        if (this.engine.awaitingMasks) this.engine.supplyMasks(rows ?? maskLater.map((later) => (later ? 'refuse' : undefined)));
      }
    }
    const out = await stepping;
    if (masks && out.masksWaitMs !== undefined) masks.waitedMs = out.masksWaitMs;
    return sequences.map((s, i) => {
      const tokenId = out.tokenIds[i]!;
      if (!s.sample || tokenId < 0) return undefined;
      if (s.sampling.numLogprobs < 0) return { tokenId };
      const top = out.topLogprobs?.[i];
      return {
        tokenId,
        logprob: out.logprobs[i]!,
        topIds: top ? Array.from(top.tokenIds) : [],
        topLogprobs: top ? Array.from(top.logprobs) : [],
      };
    });
  }
}

/** The one mapping from executor-core's EngineSampling to the native engine's sampling parameters. */
export function nativeSamplingOf(s: EngineSampling): NativeSamplingParams {
  return {
    temperature: s.temperature,
    topK: s.topK,
    topP: s.topP,
    minP: s.minP,
    presencePenalty: s.presencePenalty,
    frequencyPenalty: s.frequencyPenalty,
    repetitionPenalty: s.repetitionPenalty,
    seed: s.seed ?? null,
    logitBiasIds: s.logitBiasIds,
    logitBiasValues: s.logitBiasValues,
    numLogprobs: s.numLogprobs,
    ...(s.allowedTokenMask ? { allowedTokenMask: s.allowedTokenMask } : {}),
  };
}
