import type { ErrorCode } from '@deepinfer/contracts';
import type { SubmitRefusalReason } from '../submit-request.js';

/** What the engine loop answers a submit or a registration: the service turns a refusal into an error reply. */
export type LoopOutcome<T> = { readonly accepted: true; readonly value: T } | { readonly accepted: false; readonly code: ErrorCode; readonly message: string; readonly param?: string };

/** The wire error code of each refusal (ErrorCodes in @deepinfer/contracts: the api maps codes to HTTP statuses). */
const CODE_BY_REASON: Readonly<Record<SubmitRefusalReason, ErrorCode>> = {
  'prompt-too-long': 'context_length_exceeded',
  'queue-full': 'overloaded',
  draining: 'overloaded',
  invalid: 'bad_request',
  'duplicate-id': 'bad_request',
};

export function refusalOf(reason: SubmitRefusalReason, message: string, numPromptTokens: number, maxModelLen: number): LoopOutcome<never> {
  if (reason === 'prompt-too-long') {
    // vLLM's wording, with the counts, so that clients written against it recognise the error.
    return {
      accepted: false,
      code: CODE_BY_REASON[reason],
      message: `This model's maximum context length is ${maxModelLen} tokens. However, your request has ${numPromptTokens} input tokens, which leaves no room for output. Please reduce the length of the input.`,
      param: 'promptTokenIds',
    };
  }
  return { accepted: false, code: CODE_BY_REASON[reason], message };
}
