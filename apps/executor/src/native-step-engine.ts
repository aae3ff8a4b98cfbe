import type { Engine, NativeSamplingParams, StepSequence } from '@deepinfer/engine';
import { maskedSampling, settledMasks, type EngineSample, type EngineSampling, type EngineSequence, type StepEngine, type StepMasks } from '@deepinfer/executor-core';

/**
 * Adapts the native engine (struct-of-arrays results) to executor-core's StepEngine. Penalty
 * context crosses only when a penalty is on (executor-core passes empty arrays otherwise).
 *
 * Guided masks: the native step is one call that samples at its end, so a step with StepMasks
 * waits for them before it starts (no overlap with the forward pass on this engine yet; the
 * simulated device overlaps). A guided sequence without a mask does not sample.
 */
export class NativeStepEngine implements StepEngine {
  constructor(private readonly engine: Engine) {}

  async step(sequences: readonly EngineSequence[], masks?: StepMasks): Promise<(EngineSample | undefined)[]> {
    let rows: ReturnType<typeof maskedSampling>[] | undefined;
    if (masks || sequences.some((s) => s.guided)) {
      const waitStart = performance.now();
      const entries = await settledMasks(masks, sequences.length);
      // The forward pass has not started: all of this wait is time sampling waited for masks.
      if (masks) masks.waitedMs = performance.now() - waitStart;
      rows = sequences.map((s, i) => (s.sample ? maskedSampling(s, entries[i]) : s.sampling));
    }
    const seqs: StepSequence[] = sequences.map((s, i) => ({
      tokenIds: s.tokenIds,
      startPos: s.startPos,
      blockTable: s.blockTable,
      sample: s.sample && (rows === undefined || rows[i] !== undefined),
      sampling: nativeSamplingOf(rows?.[i] ?? s.sampling),
      promptIds: s.outputIds.length > 0 ? s.promptIds : undefined,
      outputIds: s.outputIds.length > 0 ? s.outputIds : undefined,
    }));
    const out = await this.engine.step(seqs);
    return sequences.map((s, i) => {
      const tokenId = out.tokenIds[i]!;
      if (!seqs[i]!.sample || tokenId < 0) return undefined;
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
