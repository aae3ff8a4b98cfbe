import type {
  ExecutorSamplingParams,
  FinishReason,
  NewRequestData,
  RequestMetrics,
  RequestOutput,
  SampledToken,
  SchedulerOutput,
  StepOutputsMessage,
  StepResult,
} from '@deepinfer/contracts';
import type { BlockHash } from './block-hasher.js';
import { FcfsPolicy } from './fcfs-policy.js';
import { Histogram } from './histogram.js';
import type { KvBlock } from './kv-block.js';
import { KvCacheManager } from './kv-cache-manager.js';
import { Request } from './request.js';
import { finishReasonOf, finishedStatusOf, isFinished, RequestStatus } from './request-status.js';
import { validateSchedulerConfig, type ExecutorCapacity, type SchedulerConfig } from './scheduler-config.js';
import type { SchedulerStats } from './scheduler-stats.js';
import type { RequestQueue, SchedulingPolicy } from './scheduling-policy.js';
import type { SubmitRequest, SubmitResult } from './submit-request.js';

const NO_BLOCK_IDS: readonly number[] = Object.freeze([]);
const NO_TOKEN_IDS: readonly number[] = Object.freeze([]);

/**
 * Continuous batching over a paged KV cache with automatic prefix caching; framework-free.
 *
 * The service drives it: submit() / abort() at any time, then per step schedule() → send the
 * SchedulerOutput to the executor → update(its StepResult) → publish the StepOutputsMessage. One step
 * is in flight at a time; every schedule() must be answered by update() before the next.
 *
 * Each step fills a token budget (maxNumBatchedTokens) and a sequence cap (maxNumSeqs): running
 * requests first, in admission order (one decode token each, or the next prefill chunk), then
 * waiting requests in the policy's order. When blocks run out, the policy's victim (FCFS: the
 * youngest running request) is preempted by recompute: its blocks are freed (full ones stay
 * cached) and it goes back to the front of the waiting queue; no waiting request is admitted in
 * a step that preempted.
 */
export class Scheduler {
  private readonly config: SchedulerConfig;
  private readonly policy: SchedulingPolicy;
  private readonly clock: () => number;
  private readonly kv: KvCacheManager;
  private readonly eosTokenIds: readonly number[];
  private readonly defaultRootBlockHash: BlockHash;

  /** Live requests (waiting or running) by id; a request leaves when it finishes. */
  private readonly requests = new Map<string, Request>();
  private readonly waiting: RequestQueue;
  /** Running requests in admission order (youngest last); all held by the executor. */
  private readonly running: Request[] = [];

  private nextStepId = 1;
  /** The step at the executor, if any, and the requests in it (reused between steps). */
  private inFlightStepId: number | undefined = undefined;
  private readonly inFlightRequests: Request[] = [];
  /** Blocks the in-flight step registered in the prefix cache; rolled back if it fails. */
  private readonly inFlightHashedBlocks: KvBlock[] = [];
  /** A step abandoned by a forced cache reset; its late result is ignored. */
  private discardedStepId: number | undefined = undefined;
  /** Ids for the next step's finishedRequestIds / preemptedRequestIds. */
  private pendingFinishedIds: string[] = [];
  private pendingPreemptedIds: string[] = [];

  private draining = false;
  private numPreemptionsTotal = 0;
  private numStepsTotal = 0;
  private numFinishedRequestsTotal = 0;
  private readonly batchSizeHistogram: Histogram;
  private readonly numTokensPerStepHistogram: Histogram;

  constructor(config: SchedulerConfig, capacity: ExecutorCapacity) {
    validateSchedulerConfig(config, capacity);
    this.config = config;
    this.policy = config.policy ?? new FcfsPolicy();
    this.clock = config.clock ?? (() => performance.now());
    this.kv = new KvCacheManager({
      numBlocks: capacity.numBlocks,
      blockSize: capacity.blockSize,
      enablePrefixCaching: config.enablePrefixCaching,
    });
    this.eosTokenIds = config.eosTokenIds.slice();
    this.defaultRootBlockHash = this.kv.hashRoot(JSON.stringify([config.modelCacheKey, null]));
    this.waiting = this.policy.createWaitingQueue();
    this.batchSizeHistogram = Histogram.powersOfTwo(config.maxNumSeqs);
    this.numTokensPerStepHistogram = Histogram.powersOfTwo(config.maxNumBatchedTokens);
  }

  /** The block manager, read-only use (stats, invariant checks in tests). */
  get kvCacheManager(): KvCacheManager {
    return this.kv;
  }

  get numWaitingRequests(): number {
    return this.waiting.size;
  }

  get numRunningRequests(): number {
    return this.running.length;
  }

  /** Preemptions since this scheduler was created (a request preempted twice counts twice). */
  get numPreemptions(): number {
    return this.numPreemptionsTotal;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** True while a step is at the executor (between schedule() and update()). */
  get isStepInFlight(): boolean {
    return this.inFlightStepId !== undefined;
  }

  /** Whether schedule() has anything to do: requests to run or ids the executor must drop. */
  hasWork(): boolean {
    return this.requests.size > 0 || this.pendingFinishedIds.length > 0 || this.pendingPreemptedIds.length > 0;
  }

  /** Drain mode: refuse new submissions; accepted requests (waiting or running) still finish. */
  setDraining(draining: boolean): void {
    this.draining = draining;
  }

  /** Accepts a request into the waiting queue, or says why not (never throws on bad input). */
  submit(submitted: SubmitRequest): SubmitResult {
    if (this.draining) return refuse('draining', 'the scheduler is draining and admits no new requests');
    const { requestId, promptTokenIds, samplingParams: params } = submitted;
    if (this.requests.has(requestId)) return refuse('duplicate-id', `request ${requestId} is already live`);
    if (promptTokenIds.length === 0) return refuse('invalid', 'the prompt is empty');
    const vocabSize = this.config.vocabSize;
    for (const tokenId of promptTokenIds) {
      if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= vocabSize) {
        return refuse('invalid', `prompt token ${tokenId} is not a token id of this model (vocabulary size ${vocabSize})`);
      }
    }
    // Ids the executor would index the logits with: one out of range fails the engine's whole
    // step, every other request in it included, so it is refused here (vLLM refuses it too).
    for (const key of Object.keys(params.logitBias ?? {})) {
      const tokenId = /^\d+$/.test(key) ? Number(key) : NaN;
      if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= vocabSize) {
        return refuse('invalid', `logit_bias token ${key} is not a token id of this model (vocabulary size ${vocabSize})`);
      }
    }
    for (const tokenId of params.stopTokenIds ?? []) {
      if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= vocabSize) {
        return refuse('invalid', `stop token ${tokenId} is not a token id of this model (vocabulary size ${vocabSize})`);
      }
    }
    if (!Number.isInteger(params.maxTokens) || params.maxTokens < 1) return refuse('invalid', 'maxTokens must be an integer ≥ 1');
    const minTokens = params.minTokens ?? 0;
    if (!Number.isInteger(minTokens) || minTokens < 0 || minTokens > params.maxTokens) {
      return refuse('invalid', 'minTokens must be an integer in [0, maxTokens]');
    }
    if (promptTokenIds.length >= this.config.maxModelLen) {
      return refuse(
        'prompt-too-long',
        `the prompt has ${promptTokenIds.length} tokens; the model's context (${this.config.maxModelLen}) leaves no room for output`,
      );
    }
    const maxNumWaiting = this.config.maxNumWaitingRequests;
    if (maxNumWaiting !== undefined && this.waiting.size >= maxNumWaiting) {
      return refuse('queue-full', `${this.waiting.size} requests are waiting`);
    }

    const stopTokenIds = new Set<number>(params.ignoreEos ? [] : this.eosTokenIds);
    for (const tokenId of params.stopTokenIds ?? []) stopTokenIds.add(tokenId);
    const executorSamplingParams: ExecutorSamplingParams = {
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
    };
    const rootBlockHash =
      submitted.cacheSalt === undefined
        ? this.defaultRootBlockHash
        : this.kv.hashRoot(JSON.stringify([this.config.modelCacheKey, submitted.cacheSalt]));
    const request = new Request({
      requestId,
      promptTokenIds, // kept by reference (the Request copies it once into tokenIds); callers must not mutate it
      samplingParams: params,
      rootBlockHash,
      maxOutputTokens: Math.min(params.maxTokens, this.config.maxModelLen - promptTokenIds.length),
      stopTokenIds,
      executorSamplingParams,
      arrivalTimeMs: this.clock(),
    });
    this.requests.set(requestId, request);
    this.waiting.add(request);
    return { accepted: true };
  }

  /**
   * Ends a live request at once (client gone, stop string hit, error) and returns its final
   * record; undefined if it is not live. Its blocks are freed now, or, when it is in the step at
   * the executor, when that step's result comes back (its result for that step is dropped).
   * Blocks it filled in finished steps stay cached; nothing else of it is. `error` (for the
   * client) goes into the final output's `error` field.
   */
  abort(requestId: string, reason: Exclude<FinishReason, 'length'> = 'abort', error?: string): RequestOutput | undefined {
    const request = this.requests.get(requestId);
    if (!request) return undefined;
    if (request.status === RequestStatus.RUNNING) {
      this.running.splice(this.running.indexOf(request), 1);
    } else {
      this.waiting.remove(request);
    }
    const inFlight = request.numScheduledTokensInFlight > 0;
    this.finish(request, finishedStatusOf(reason), this.clock(), !inFlight);
    return this.outputOf(request, NO_TOKEN_IDS, undefined, error);
  }

  /** Picks the next step. Throws if the previous step has not been answered by update(). */
  schedule(): SchedulerOutput {
    if (this.inFlightStepId !== undefined) throw new Error(`step ${this.inFlightStepId} is still in flight; call update() first`);
    const now = this.clock();
    const stepId = this.nextStepId++;
    const chunked = this.config.enableChunkedPrefill;
    let budget = this.config.maxNumBatchedTokens;
    const hashedBlocks = this.inFlightHashedBlocks;
    const scheduled = this.inFlightRequests;
    hashedBlocks.length = 0;
    scheduled.length = 0;

    const cachedRequestIds: string[] = [];
    const cachedNewBlockIds: (readonly number[])[] = [];
    const cachedNumComputedTokens: number[] = [];
    const cachedNumScheduledTokens: number[] = [];
    const newRequests: NewRequestData[] = [];

    // 1. Running requests: a decode token each, or the next chunk of an unfinished prefill.
    let preempted = false;
    let i = 0;
    while (i < this.running.length && budget > 0) {
      const request = this.running[i];
      let numNewTokens = request.numTokens - request.numComputedTokens;
      if (numNewTokens > budget) {
        if (!chunked) {
          i++;
          continue;
        }
        numNewTokens = budget;
      }
      let allocated = this.kv.allocateSlots(request, numNewTokens, undefined, hashedBlocks);
      while (!allocated) {
        const victimIndex = this.policy.pickPreemptionVictim(this.running, i);
        const victim = this.running[victimIndex];
        this.running.splice(victimIndex, 1);
        this.preempt(victim);
        preempted = true;
        if (victim === request) break;
        allocated = this.kv.allocateSlots(request, numNewTokens, undefined, hashedBlocks);
      }
      if (!allocated) continue; // running[i] is now the next request

      const numSentBlocks = request.numBlocksSentToExecutor;
      const numBlocks = this.kv.numBlocksOf(request.requestId);
      cachedRequestIds.push(request.requestId);
      cachedNewBlockIds.push(numBlocks > numSentBlocks ? this.kv.blockIdsOf(request.requestId, numSentBlocks) : NO_BLOCK_IDS);
      cachedNumComputedTokens.push(request.numComputedTokens);
      cachedNumScheduledTokens.push(numNewTokens);
      request.numBlocksSentToExecutor = numBlocks;
      request.numScheduledTokensInFlight = numNewTokens;
      scheduled.push(request);
      budget -= numNewTokens;
      i++;
    }

    // 2. Waiting requests, unless this step had to preempt (there is no room to grow into).
    while (!preempted && budget > 0 && this.running.length < this.config.maxNumSeqs) {
      const request = this.waiting.peek();
      if (!request) break;
      const prefix = this.kv.findCachedPrefix(request);
      let numNewTokens = request.numTokens - prefix.numTokens;
      if (numNewTokens > budget) {
        if (!chunked) break; // FCFS: the head waits for a step with room; nothing overtakes it
        numNewTokens = budget;
      }
      if (!this.kv.allocateSlots(request, numNewTokens, prefix, hashedBlocks)) break;
      this.waiting.pop();
      this.kv.recordPrefixCacheQuery(request.numTokens, prefix.numTokens);
      if (request.timestamps.firstScheduledTimeMs === undefined) {
        request.timestamps.firstScheduledTimeMs = now;
        request.numCachedTokens = prefix.numTokens;
      }
      request.status = RequestStatus.RUNNING;
      request.numComputedTokens = prefix.numTokens;
      this.running.push(request);

      const blockIds = this.kv.blockIdsOf(request.requestId);
      newRequests.push({
        requestId: request.requestId,
        promptTokenIds: request.promptTokenIds,
        outputTokenIds: request.numOutputTokens > 0 ? request.outputTokenIds() : NO_TOKEN_IDS,
        samplingParams: request.executorSamplingParams,
        blockIds,
        numComputedTokens: prefix.numTokens,
        numScheduledTokens: numNewTokens,
      });
      request.isKnownToExecutor = true;
      request.numBlocksSentToExecutor = blockIds.length;
      request.numScheduledTokensInFlight = numNewTokens;
      scheduled.push(request);
      budget -= numNewTokens;
    }

    const totalNumScheduledTokens = this.config.maxNumBatchedTokens - budget;
    this.numStepsTotal++;
    this.batchSizeHistogram.observe(scheduled.length);
    this.numTokensPerStepHistogram.observe(totalNumScheduledTokens);
    this.inFlightStepId = stepId;

    const finishedRequestIds = this.pendingFinishedIds;
    const preemptedRequestIds = this.pendingPreemptedIds;
    this.pendingFinishedIds = [];
    this.pendingPreemptedIds = [];
    return {
      stepId,
      newRequests,
      cachedRequests: {
        requestIds: cachedRequestIds,
        newBlockIds: cachedNewBlockIds,
        numComputedTokens: cachedNumComputedTokens,
        numScheduledTokens: cachedNumScheduledTokens,
      },
      totalNumScheduledTokens,
      finishedRequestIds,
      preemptedRequestIds,
    };
  }

  /**
   * Applies the executor's answer to the step in flight: advances computed tokens, appends the
   * sampled tokens, finishes requests (stop / length / error) and frees or caches their blocks.
   * Results for requests aborted meanwhile are dropped. Throws on a result for another step or
   * a token for a request that did not expect one (a broken executor, not a request's fault).
   */
  update(result: StepResult): StepOutputsMessage {
    if (this.discardedStepId !== undefined && result.stepId === this.discardedStepId) {
      this.discardedStepId = undefined;
      return { stepId: result.stepId, outputs: [] };
    }
    if (this.inFlightStepId === undefined || result.stepId !== this.inFlightStepId) {
      throw new Error(`result for step ${result.stepId}, but the step in flight is ${this.inFlightStepId ?? 'none'}`);
    }
    const now = this.clock();
    const scheduled = this.inFlightRequests;
    const outputs: RequestOutput[] = [];
    let anyFinished = false;

    if (result.error !== undefined) {
      // Nothing was written: forget what the step registered before any block is released.
      this.kv.uncacheBlocks(this.inFlightHashedBlocks);
      for (const request of scheduled) {
        request.numScheduledTokensInFlight = 0;
        if (isFinished(request.status)) {
          this.kv.free(request);
          continue;
        }
        this.finish(request, RequestStatus.FINISHED_ERROR, now, true);
        outputs.push(this.outputOf(request, NO_TOKEN_IDS, undefined, `the engine failed a step: ${result.error}`));
        anyFinished = true;
      }
    } else {
      for (const request of scheduled) {
        const numScheduledTokens = request.numScheduledTokensInFlight;
        request.numScheduledTokensInFlight = 0;
        if (isFinished(request.status)) this.kv.free(request); // aborted while in flight
        else request.numComputedTokens += numScheduledTokens;
      }
      for (const sampled of result.sampled) {
        const request = this.requests.get(sampled.requestId);
        if (!request) continue; // aborted while in flight: its token is dropped
        if (request.status !== RequestStatus.RUNNING || request.numComputedTokens !== request.numTokens) {
          throw new Error(`step ${result.stepId}: request ${sampled.requestId} was not due a token`);
        }
        const output = this.appendToken(request, sampled, now);
        outputs.push(output);
        if (output.finishReason !== undefined) anyFinished = true;
      }
      for (const request of scheduled) {
        // Due a token (all its tokens computed) but none came: the executor failed it.
        if (request.status === RequestStatus.RUNNING && request.numComputedTokens === request.numTokens) {
          this.finish(request, RequestStatus.FINISHED_ERROR, now, true);
          outputs.push(this.outputOf(request, NO_TOKEN_IDS, undefined, 'the engine returned no token for this request'));
          anyFinished = true;
        }
      }
    }

    if (anyFinished) this.removeFinishedFromRunning();
    scheduled.length = 0;
    this.inFlightHashedBlocks.length = 0;
    this.inFlightStepId = undefined;
    return { stepId: result.stepId, outputs };
  }

  /**
   * Forgets every cached prefix. Without `force`, it refuses (returns false, changes nothing)
   * while any block is held, i.e. while requests run. With `force` — the executor's KV contents
   * were lost (restart, device reset) — it also abandons the step in flight (its late result is
   * ignored), frees the blocks of requests aborted in it, and preempts every running request so
   * that it recomputes from scratch; then it cannot fail. Waiting requests are unaffected.
   */
  resetPrefixCache(options: { readonly force?: boolean } = {}): boolean {
    if (!options.force) return this.kv.resetPrefixCache();
    if (this.inFlightStepId !== undefined) {
      this.discardedStepId = this.inFlightStepId;
      for (const request of this.inFlightRequests) {
        request.numScheduledTokensInFlight = 0;
        if (isFinished(request.status)) this.kv.free(request);
      }
      this.inFlightRequests.length = 0;
      this.inFlightHashedBlocks.length = 0;
      this.inFlightStepId = undefined;
    }
    // Youngest first, so that the oldest ends up at the front of the waiting queue.
    for (let i = this.running.length - 1; i >= 0; i--) this.preempt(this.running[i]);
    this.running.length = 0;
    const reset = this.kv.resetPrefixCache();
    if (!reset) throw new Error('blocks still held after a forced prefix-cache reset');
    return reset;
  }

  stats(): SchedulerStats {
    const pool = this.kv.pool;
    const numQueryTokens = this.kv.numQueryTokens;
    const numHitTokens = this.kv.numHitTokens;
    return {
      numWaitingRequests: this.waiting.size,
      numRunningRequests: this.running.length,
      numPreemptionsTotal: this.numPreemptionsTotal,
      numStepsTotal: this.numStepsTotal,
      numFinishedRequestsTotal: this.numFinishedRequestsTotal,
      draining: this.draining,
      kvCache: {
        blockSize: this.kv.blockSize,
        numBlocksTotal: pool.numBlocks,
        numBlocksUsed: pool.numUsedBlocks,
        numBlocksCached: pool.numCachedFreeBlocks,
        usage: pool.numUsedBlocks / pool.numBlocks,
      },
      prefixCache: {
        enabled: this.kv.enablePrefixCaching,
        numQueryTokens,
        numHitTokens,
        hitRate: numQueryTokens === 0 ? 0 : numHitTokens / numQueryTokens,
      },
      batchSizeHistogram: this.batchSizeHistogram.toData(),
      numTokensPerStepHistogram: this.numTokensPerStepHistogram.toData(),
    };
  }

  private appendToken(request: Request, sampled: SampledToken, now: number): RequestOutput {
    const tokenId = sampled.tokenId;
    // A token sampled before minTokens outputs existed was masked from stopping (the executor
    // bans stop ids then); numOutputTokens before this one is the count the executor saw.
    const canStop = request.numOutputTokens >= request.minTokens;
    request.tokenIds.push(tokenId);
    if (request.timestamps.firstTokenTimeMs === undefined) request.timestamps.firstTokenTimeMs = now;
    let finishedStatus: RequestStatus | undefined;
    if (canStop && request.stopTokenIds.has(tokenId)) {
      finishedStatus = RequestStatus.FINISHED_STOPPED;
      request.stopTokenId = tokenId;
    } else if (request.numOutputTokens >= request.maxOutputTokens || request.numTokens >= this.config.maxModelLen) {
      finishedStatus = RequestStatus.FINISHED_LENGTH;
    }
    if (finishedStatus !== undefined) this.finish(request, finishedStatus, now, true);
    return this.outputOf(request, [tokenId], sampled.logprobs === undefined ? undefined : [sampled.logprobs]);
  }

  /** Marks a request finished and forgets it; frees its blocks unless a step still writes them. */
  private finish(request: Request, status: RequestStatus, now: number, freeBlocks: boolean): void {
    request.status = status;
    request.timestamps.finishedTimeMs = now;
    this.requests.delete(request.requestId);
    if (freeBlocks) this.kv.free(request);
    if (request.isKnownToExecutor) {
      this.pendingFinishedIds.push(request.requestId);
      request.isKnownToExecutor = false;
    }
    this.numFinishedRequestsTotal++;
  }

  /** Preemption by recompute: free the blocks (full ones stay cached) and wait at the front. */
  private preempt(request: Request): void {
    this.kv.free(request);
    request.status = RequestStatus.PREEMPTED;
    request.numComputedTokens = 0;
    request.numPreemptions++;
    this.numPreemptionsTotal++;
    if (request.isKnownToExecutor) {
      this.pendingPreemptedIds.push(request.requestId);
      request.isKnownToExecutor = false;
    }
    request.numBlocksSentToExecutor = 0;
    this.waiting.addPreempted(request);
  }

  private removeFinishedFromRunning(): void {
    let kept = 0;
    for (const request of this.running) if (!isFinished(request.status)) this.running[kept++] = request;
    this.running.length = kept;
  }

  private outputOf(request: Request, newTokenIds: readonly number[], logprobs: RequestOutput['logprobs'], error?: string): RequestOutput {
    const finishReason = finishReasonOf(request.status);
    // One fixed object shape for every output (absent fields are undefined, which JSON drops):
    // building it with conditional spreads cost more than the rest of update() together.
    return {
      requestId: request.requestId,
      newTokenIds,
      logprobs,
      finishReason,
      stopTokenId: request.stopTokenId,
      numPromptTokens: request.numPromptTokens,
      numCachedTokens: request.numCachedTokens,
      numOutputTokens: request.numOutputTokens,
      metrics: finishReason === undefined ? undefined : metricsOf(request),
      error,
    };
  }
}

function refuse(reason: Exclude<SubmitResult, { accepted: true }>['reason'], message: string): SubmitResult {
  return { accepted: false, reason, message };
}

function metricsOf(request: Request): RequestMetrics {
  const t = request.timestamps;
  return {
    arrivalTimeMs: t.arrivalTimeMs,
    firstScheduledTimeMs: t.firstScheduledTimeMs,
    firstTokenTimeMs: t.firstTokenTimeMs,
    finishedTimeMs: t.finishedTimeMs,
    queueTimeMs: difference(t.firstScheduledTimeMs, t.arrivalTimeMs),
    prefillTimeMs: difference(t.firstTokenTimeMs, t.firstScheduledTimeMs),
    decodeTimeMs: difference(t.finishedTimeMs, t.firstTokenTimeMs),
    numPreemptions: request.numPreemptions,
  };
}

function difference(later: number | undefined, earlier: number | undefined): number | undefined {
  return later === undefined || earlier === undefined ? undefined : later - earlier;
}
