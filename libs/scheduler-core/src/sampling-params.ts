import type { SamplingParamsMessage } from '@deepinfer/contracts';

/**
 * What a client asked for, as the scheduler receives it in a SubmitMessage (validated by the
 * api, then at the scheduler's boundary): the wire type itself, read-only here. The scheduler
 * reads maxTokens, minTokens, stopTokenIds and ignoreEos; the rest passes through to the
 * executor as ExecutorSamplingParams (also a wire type, in @deepinfer/contracts).
 */
export type SamplingParams = Readonly<SamplingParamsMessage>;
