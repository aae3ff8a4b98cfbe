import type { StepOutput } from './engine.types.js';

/** One sequence's sample, as an object (the executor's per-request view of a StepOutput). */
export interface StepSample {
  tokenId: number;
  /** Present when the sequence asked for numLogprobs >= 0. */
  logprob?: number;
  topIds?: number[];
  topLogprobs?: number[];
}

/**
 * Unpacks a StepOutput (struct of arrays) into one entry per input sequence, undefined where the
 * sequence did not sample. The addon returns arrays because that is cheap to build natively;
 * per-sequence objects are what the executor's bookkeeping consumes.
 */
export function stepSamples(output: StepOutput): (StepSample | undefined)[] {
  const samples: (StepSample | undefined)[] = new Array(output.tokenIds.length);
  for (let i = 0; i < output.tokenIds.length; i++) {
    const tokenId = output.tokenIds[i]!;
    if (tokenId < 0) {
      samples[i] = undefined;
      continue;
    }
    const sample: StepSample = { tokenId };
    const logprob = output.logprobs[i]!;
    if (!Number.isNaN(logprob)) sample.logprob = logprob;
    const top = output.topLogprobs?.[i];
    if (top) {
      sample.topIds = Array.from(top.tokenIds);
      sample.topLogprobs = Array.from(top.logprobs);
    }
    samples[i] = sample;
  }
  return samples;
}
