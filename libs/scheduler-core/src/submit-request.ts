import type { RequestSamplingParams } from './sampling-params.js';

/** A request as the scheduler service receives it (prompt already tokenized). */
export interface SubmitRequest {
  /** Unique among live requests; the api assigns it. */
  readonly requestId: string;
  /** [numPromptTokens], non-empty, each an integer ≥ 0. Kept by reference: do not mutate after submit. */
  readonly promptTokenIds: readonly number[];
  readonly samplingParams: RequestSamplingParams;
  /** Separates this request's prefix-cache entries from other tenants' (vLLM's cache_salt). */
  readonly cacheSalt?: string;
}

/**
 * Why submit() refused: `draining` and `queue-full` are retryable (503/429 with Retry-After);
 * `prompt-too-long` (no room for one output token within maxModelLen), `invalid` and
 * `duplicate-id` are client errors (400).
 */
export type SubmitRefusalReason = 'draining' | 'queue-full' | 'prompt-too-long' | 'invalid' | 'duplicate-id';

export type SubmitResult =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly reason: SubmitRefusalReason; readonly message: string };
