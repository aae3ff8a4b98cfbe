import type { Engine, StepSequence } from '@deepinfer/engine';
import type { EngineSample, EngineSequence, StepEngine } from '@deepinfer/executor-core';

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
      sampling: {
        temperature: s.sampling.temperature,
        topK: s.sampling.topK,
        topP: s.sampling.topP,
        minP: s.sampling.minP,
        presencePenalty: s.sampling.presencePenalty,
        frequencyPenalty: s.sampling.frequencyPenalty,
        repetitionPenalty: s.sampling.repetitionPenalty,
        seed: s.sampling.seed ?? null,
        logitBiasIds: s.sampling.logitBiasIds,
        logitBiasValues: s.sampling.logitBiasValues,
        numLogprobs: s.sampling.numLogprobs,
        ...(s.sampling.allowedTokenMask ? { allowedTokenMask: s.sampling.allowedTokenMask } : {}),
      },
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
