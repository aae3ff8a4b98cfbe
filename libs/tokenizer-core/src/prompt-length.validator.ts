import { ContextLengthExceededError, EmptyPromptError } from './tokenizer.errors.js';

export interface PromptLengthCheck {
  /** the completion budget: `maxTokens` when given, else all the context left after the prompt */
  readonly maxTokens: number;
}

/**
 * Checks that a prompt leaves room to generate, as vLLM's serving layer does: prompt plus
 * max_tokens must fit in max_model_len, and without max_tokens at least one token must fit.
 * Throws `empty_prompt` or `context_length_exceeded` (an HTTP 400 at the api).
 */
export function validatePromptLength(numPromptTokens: number, maxModelLen: number, maxTokens?: number): PromptLengthCheck {
  if (numPromptTokens <= 0) throw new EmptyPromptError();
  if (maxTokens === undefined) {
    if (numPromptTokens >= maxModelLen) throw new ContextLengthExceededError(numPromptTokens, maxModelLen);
    return { maxTokens: maxModelLen - numPromptTokens };
  }
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new RangeError(`maxTokens must be a positive integer, got ${maxTokens}`);
  if (numPromptTokens + maxTokens > maxModelLen) throw new ContextLengthExceededError(numPromptTokens, maxModelLen, maxTokens);
  return { maxTokens };
}
