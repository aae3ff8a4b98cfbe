import type { Engine, NativeSamplingParams, StepSequence } from '@deepinfer/engine';
import type { EngineSample, EngineSampling, EngineSequence, StepEngine } from '@deepinfer/executor-core';

/**
 * Adapts the native engine (struct-of-arrays results) to executor-core's StepEngine. Penalty
 * context crosses only when a penalty is on (executor-core passes empty arrays otherwise).
 */
export class NativeStepEngine implements StepEngine {
  constructor(private readonly engine: Engine) {}

  async step(sequences: readonly EngineSequence[]): Promise<(EngineSample | undefined)[]> {
    const seqs: StepSequence[] = sequences.map((s) => ({
      tokenIds: s.tokenIds,
      startPos: s.startPos,
      blockTable: s.blockTable,
      sample: s.sample,
      sampling: nativeSamplingOf(s.sampling),
      promptIds: s.outputIds.length > 0 ? s.promptIds : undefined,
      outputIds: s.outputIds.length > 0 ? s.outputIds : undefined,
    }));
    const out = await this.engine.step(seqs);
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
