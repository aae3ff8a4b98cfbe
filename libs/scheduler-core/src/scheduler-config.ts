import type { PrefixCacheListener } from './prefix-cache-listener.js';
import type { SchedulingPolicy } from './scheduling-policy.js';

/** What the executor reports at registration; the KV capacity is never configured twice. */
export interface ExecutorCapacity {
  readonly numBlocks: number;
  /** Tokens per KV block. */
  readonly blockSize: number;
}

export interface SchedulerConfig {
  /** Token budget of one step (decode tokens + prefill chunks). */
  readonly maxNumBatchedTokens: number;
  /** Most requests running at once (and so in one step). */
  readonly maxNumSeqs: number;
  /** The model's context length: prompt + outputs never exceed it. */
  readonly maxModelLen: number;
  /** Split long prompts across steps; when off, a prompt must fit maxNumBatchedTokens whole. */
  readonly enableChunkedPrefill: boolean;
  readonly enablePrefixCaching: boolean;
  /** The model's end-of-sequence ids (generation_config may list several). */
  readonly eosTokenIds: readonly number[];
  /**
   * Rows of the model's logits, as the executor reports them. Every token id a request carries to
   * the executor (prompt, logit bias, stop ids banned under minTokens) must be below it: the
   * engine refuses a step holding one that is not, which fails every request in that step.
   */
  readonly vocabSize: number;
  /** Model identity and revision: enters every block hash, so caches never mix models. */
  readonly modelCacheKey: string;
  /** Waiting requests beyond which submit() refuses with `queue-full`; unlimited if absent. */
  readonly maxNumWaitingRequests?: number;
  /** Waiting order and preemption choice; FCFS by default. */
  readonly policy?: SchedulingPolicy;
  /** Monotonic clock in ms (default performance.now); injectable for tests. */
  readonly clock?: () => number;
  /** Told of every block hash the prefix cache stores and drops (the KV-aware router's events). */
  readonly prefixCacheListener?: PrefixCacheListener;
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

/** Rejects a configuration the scheduler could deadlock or misbehave on, naming the field. */
export function validateSchedulerConfig(config: SchedulerConfig, capacity: ExecutorCapacity): void {
  requirePositiveInteger('maxNumBatchedTokens', config.maxNumBatchedTokens);
  requirePositiveInteger('maxNumSeqs', config.maxNumSeqs);
  requirePositiveInteger('maxModelLen', config.maxModelLen);
  requirePositiveInteger('vocabSize', config.vocabSize);
  requirePositiveInteger('numBlocks', capacity.numBlocks);
  requirePositiveInteger('blockSize', capacity.blockSize);
  if (config.maxNumWaitingRequests !== undefined) requirePositiveInteger('maxNumWaitingRequests', config.maxNumWaitingRequests);
  // A request alone must always fit, or preemption could never make room for it (vLLM checks the same).
  const maxModelLenCapacity = capacity.numBlocks * capacity.blockSize;
  if (config.maxModelLen > maxModelLenCapacity) {
    throw new RangeError(
      `maxModelLen (${config.maxModelLen}) exceeds the KV cache (${capacity.numBlocks} blocks × ${capacity.blockSize} tokens = ${maxModelLenCapacity})`,
    );
  }
  // Without chunking a resumed request recomputes prompt + outputs in one step, up to maxModelLen.
  if (!config.enableChunkedPrefill && config.maxNumBatchedTokens < config.maxModelLen) {
    throw new RangeError(
      `maxNumBatchedTokens (${config.maxNumBatchedTokens}) must be ≥ maxModelLen (${config.maxModelLen}) when chunked prefill is off`,
    );
  }
  for (const tokenId of config.eosTokenIds) {
    if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= config.vocabSize) {
      throw new RangeError(`eosTokenIds holds ${tokenId}, not a token id of a ${config.vocabSize}-token vocabulary`);
    }
  }
}
