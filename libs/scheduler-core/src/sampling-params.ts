import type { ExecutorSamplingParams, SamplingParamsMessage } from '@deepinfer/contracts';

/**
 * What a client asked for, as the scheduler receives it in a SubmitMessage (validated by the
 * api, then at the scheduler's boundary): the wire type itself, read-only here. The scheduler
 * reads maxTokens, minTokens, stopTokenIds and ignoreEos; the rest passes through to the
 * executor as ExecutorSamplingParams (also a wire type, in @deepinfer/contracts).
 */
export type RequestSamplingParams = Readonly<SamplingParamsMessage>;

const NO_TOKEN_IDS: readonly number[] = Object.freeze([]);

/**
 * The one mapping from a request's sampling to what the executor samples with: the sampling
 * fields pass through; the scheduler adds the min-tokens rule as the stop ids to ban until
 * `minTokens` outputs exist (the executor turns them into -inf logit biases).
 */
export function executorSamplingParamsOf(params: RequestSamplingParams, minTokens: number, stopTokenIds: ReadonlySet<number>): ExecutorSamplingParams {
  return {
    temperature: params.temperature,
    topP: params.topP,
    topK: params.topK,
    minP: params.minP,
    seed: params.seed,
    presencePenalty: params.presencePenalty,
    frequencyPenalty: params.frequencyPenalty,
    repetitionPenalty: params.repetitionPenalty,
    logitBias: params.logitBias,
    logprobs: params.logprobs,
    minTokens,
    minTokensBannedTokenIds: minTokens > 0 ? [...stopTokenIds] : NO_TOKEN_IDS,
    ...(params.guided !== undefined ? { guided: params.guided } : {}),
  };
}
