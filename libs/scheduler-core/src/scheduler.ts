import {
  ErrorCodes,
  type ErrorCode,
  type FinishReason,
  type NewRequestData,
  type RequestMetrics,
  type RequestOutput,
  type SampledToken,
  type SchedulerOutput,
  type StepOutputsMessage,
  type StepResult,
} from '@deepinfer/contracts';
import { rootExtraKey, type BlockHash } from './block-hasher.js';
import { FcfsPolicy } from './fcfs-policy.js';
import { Histogram } from './histogram.js';
import type { KvBlock } from './kv-block.js';
import { KvCacheManager } from './kv-cache-manager.js';
import { Request } from './request.js';
import { executorSamplingParamsOf } from './sampling-params.js';
import { finishReasonOf, finishedStatusOf, isFinished, RequestStatus } from './request-status.js';
import { validateSchedulerConfig, type ExecutorCapacity, type SchedulerConfig } from './scheduler-config.js';
import { RECENT_STEPS, RecentSteps, type SchedulerStats } from './scheduler-stats.js';
import type { RequestQueue, SchedulingPolicy } from './scheduling-policy.js';
import type { SubmitRequest, SubmitResult } from './submit-request.js';

const NO_BLOCK_IDS: readonly number[] = Object.freeze([]);
const NO_TOKEN_IDS: readonly number[] = Object.freeze([]);

/** A step sent to the executor and not answered yet. Steps are answered in the order sent. */
interface InFlightStep {
  readonly stepId: number;
  /** The requests it runs, and per request the tokens it computes and whether it samples. */
  readonly requests: Request[];
  readonly numTokens: number[];
  readonly samples: boolean[];
  /** Blocks it registered in the prefix cache; rolled back if it fails. */
  readonly hashedBlocks: KvBlock[];
  /**
   * An earlier step failed while this one (scheduled ahead) was at the executor: it may rest on
   * KV that step never wrote (a continued sequence, a prefix hit), so its requests fail too.
   */
  poisonedBy: string | undefined;
}

/**
 * Continuous batching over a paged KV cache with automatic prefix caching; framework-free.
 *
 * The service drives it: submit() / abort() at any time, then per step schedule() → send the
 * SchedulerOutput to the executor → update(its StepResult) → publish the StepOutputsMessage.
 *
 * Asynchronous scheduling (vLLM v1's): while one step is at the executor, scheduleAhead() may
 * build the next, so that the host work of answering, publishing and scheduling overlaps the
 * device. A request in the step in flight is scheduled as if that step had run: its computed
 * tokens include the in-flight ones, and the token that step samples (unknown here) is the
 * next one to compute — the executor, which runs steps in order, fills it in from its own books.
 * A request sure to finish in the step in flight (its last allowed token) is left out; one that
 * stops there on an eos token runs one wasted position, whose result update() drops. An ahead
 * step never preempts: when the running requests' next tokens do not fit in the free blocks,
 * scheduleAhead() returns nothing and the service waits for the answer and calls schedule(),
 * which may preempt (with no step in flight, so a preempted request is in none). At most two
 * steps are in flight; update() takes their answers in order.
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

  /** Live requests (held for their grammar, waiting or running) by id; a request leaves when it finishes. */
  private readonly requests = new Map<string, Request>();
  /** Requests accepted and held out of the waiting queue until their grammar is compiled (see submit). */
  private readonly heldForGrammar = new Set<Request>();
  private readonly waiting: RequestQueue;
  /** Running requests in admission order (youngest last); all held by the executor. */
  private readonly running: Request[] = [];

  private nextStepId = 1;
  /** Steps at the executor, oldest first (at most two: one running, one scheduled ahead). */
  private readonly inFlight: InFlightStep[] = [];
  /** Steps abandoned by a forced cache reset; their late results are ignored. */
  private readonly discardedStepIds = new Set<number>();
  /** Ids for the next step's finishedRequestIds / preemptedRequestIds. */
  private pendingFinishedIds: string[] = [];
  private pendingPreemptedIds: string[] = [];

  private draining = false;
  private numPreemptionsTotal = 0;
  private numStepsTotal = 0;
  private numFinishedRequestsTotal = 0;
  private readonly batchSizeHistogram: Histogram;
  private readonly numTokensPerStepHistogram: Histogram;
  private numPrefillTokensTotal = 0;
  private numDecodeTokensTotal = 0;
  private readonly recentSteps = new RecentSteps(RECENT_STEPS);

  constructor(config: SchedulerConfig, capacity: ExecutorCapacity) {
    validateSchedulerConfig(config, capacity);
    this.config = config;
    this.policy = config.policy ?? new FcfsPolicy();
    this.clock = config.clock ?? (() => performance.now());
    this.kv = new KvCacheManager({
      numBlocks: capacity.numBlocks,
      blockSize: capacity.blockSize,
      enablePrefixCaching: config.enablePrefixCaching,
      listener: config.prefixCacheListener,
    });
    this.eosTokenIds = config.eosTokenIds.slice();
    this.defaultRootBlockHash = this.kv.hashRoot(rootExtraKey(config.modelCacheKey, undefined));
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
    return this.inFlight.length > 0;
  }

  /** Steps at the executor: 0, 1, or 2 with a step scheduled ahead. */
  get numStepsInFlight(): number {
    return this.inFlight.length;
  }

  /** Whether schedule() has anything to do: requests to run or ids the executor must drop. */
  hasWork(): boolean {
    return this.requests.size > this.heldForGrammar.size || this.pendingFinishedIds.length > 0 || this.pendingPreemptedIds.length > 0;
  }

  /** Drain mode: refuse new submissions; accepted requests (waiting or running) still finish. */
  setDraining(draining: boolean): void {
    this.draining = draining;
  }

  /** Requests accepted but held out of the waiting queue until their grammar is compiled (submit's holdForGrammar). */
  get numWaitingForGrammarRequests(): number {
    return this.heldForGrammar.size;
  }

  /**
   * Moves a request held for its grammar into the waiting queue (its grammar is compiled on the
   * executor, or cannot be asked for: its first step then compiles it). False if it is not held
   * (aborted meanwhile, or never held).
   */
  releaseGrammarHold(requestId: string): boolean {
    const request = this.requests.get(requestId);
    if (!request || !this.heldForGrammar.delete(request)) return false;
    request.status = RequestStatus.WAITING;
    this.waiting.add(request);
    return true;
  }

  /**
   * Ends a request held for its grammar because the executor refused that grammar: its final
   * output has finish reason `error`, `message` and errorCode `bad_request` (the api answers 400).
   * Undefined if it is not held (aborted meanwhile, or never held). A held request was never
   * scheduled (no blocks, no tokens, unknown to the executor), so its client has received
   * nothing yet and can still get a plain error response: asserted below.
   */
  refuseGrammar(requestId: string, message: string): RequestOutput | undefined {
    const request = this.requests.get(requestId);
    if (!request || !this.heldForGrammar.delete(request)) return undefined;
    if (request.numOutputTokens !== 0 || request.numComputedTokens !== 0 || request.isKnownToExecutor) {
      throw new Error(`request ${requestId} was held for its grammar but has run (${request.numOutputTokens} output tokens)`);
    }
    this.finish(request, RequestStatus.FINISHED_ERROR, this.clock(), false);
    return this.outputOf(request, NO_TOKEN_IDS, undefined, message, ErrorCodes.badRequest);
  }

  /**
   * Accepts a request into the waiting queue, or says why not (never throws on bad input). With
   * `holdForGrammar` it is accepted but held (RequestStatus.WAITING_FOR_GRAMMAR: no blocks, never
   * scheduled) until releaseGrammarHold(); abort() ends it like any other.
   */
  submit(submitted: SubmitRequest, options: { holdForGrammar?: boolean } = {}): SubmitResult {
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
    const numWaiting = this.waiting.size + this.heldForGrammar.size;
    if (maxNumWaiting !== undefined && numWaiting >= maxNumWaiting) {
      return refuse('queue-full', `${numWaiting} requests are waiting`);
    }

    const stopTokenIds = new Set<number>(params.ignoreEos ? [] : this.eosTokenIds);
    for (const tokenId of params.stopTokenIds ?? []) stopTokenIds.add(tokenId);
    const executorSamplingParams = executorSamplingParamsOf(params, minTokens, stopTokenIds);
    const rootBlockHash =
      submitted.cacheSalt === undefined
        ? this.defaultRootBlockHash
        : this.kv.hashRoot(rootExtraKey(this.config.modelCacheKey, submitted.cacheSalt));
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
    if (options.holdForGrammar) {
      request.status = RequestStatus.WAITING_FOR_GRAMMAR;
      this.heldForGrammar.add(request);
    } else {
      this.waiting.add(request);
    }
    return { accepted: true };
  }

  /**
   * Ends a live request at once (client gone, stop string hit, error) and returns its final
   * record; undefined if it is not live. Its blocks are freed now, or, when it is in the step at
   * the executor, when that step's result comes back (its result for that step is dropped).
   * Blocks it filled in finished steps stay cached; nothing else of it is. `error` (for the
   * client) goes into the final output's `error` field.
   */
  abort(requestId: string, reason: Exclude<FinishReason, 'length'> = 'abort', error?: string, errorCode?: ErrorCode): RequestOutput | undefined {
    const request = this.requests.get(requestId);
    if (!request) return undefined;
    if (request.status === RequestStatus.RUNNING) {
      this.running.splice(this.running.indexOf(request), 1);
    } else if (request.status === RequestStatus.WAITING_FOR_GRAMMAR) {
      this.heldForGrammar.delete(request);
    } else {
      this.waiting.remove(request);
    }
    this.finish(request, finishedStatusOf(reason), this.clock(), request.numInFlightSteps === 0);
    return this.outputOf(request, NO_TOKEN_IDS, undefined, error, errorCode);
  }

  /** Picks the next step. Throws if a step has not been answered by update(). */
  schedule(): SchedulerOutput {
    if (this.inFlight.length > 0) throw new Error(`step ${this.inFlight[0]!.stepId} is still in flight; call update() first`);
    return this.buildStep(false)!;
  }

  /**
   * Picks the step after the one in flight (asynchronous scheduling, see the class comment), or
   * returns undefined: nothing to run yet, or the running requests' next tokens need blocks that
   * only preemption would free (schedule() does that once the step in flight is answered).
   * Throws unless exactly one step is in flight.
   */
  scheduleAhead(): SchedulerOutput | undefined {
    if (this.inFlight.length !== 1) throw new Error(`scheduleAhead needs exactly one step in flight (${this.inFlight.length} are)`);
    if (!this.aheadFits()) return undefined;
    return this.buildStep(true);
  }

  /** Whether every running request's next tokens fit in the free blocks without preemption. */
  private aheadFits(): boolean {
    const blockSize = this.kv.blockSize;
    let numNeeded = 0;
    for (const request of this.running) {
      const numAfter = Math.min(request.numTokens + request.numPendingSamples, request.numComputedTokens + request.numScheduledTokensInFlight + this.config.maxNumBatchedTokens);
      numNeeded += Math.max(0, Math.ceil(numAfter / blockSize) - this.kv.numBlocksOf(request.requestId));
    }
    return numNeeded <= this.kv.pool.numFreeBlocks;
  }

  /** Builds a step; `ahead`: one step is in flight (no preemption, skip sure finishers, may be empty → undefined). */
  private buildStep(ahead: boolean): SchedulerOutput | undefined {
    const now = this.clock();
    const chunked = this.config.enableChunkedPrefill;
    let budget = this.config.maxNumBatchedTokens;
    const hashedBlocks: KvBlock[] = [];
    const scheduled: Request[] = [];
    const scheduledTokens: number[] = [];
    const scheduledSamples: boolean[] = [];

    const cachedRequestIds: string[] = [];
    const cachedNewBlockIds: (readonly number[])[] = [];
    const cachedNumComputedTokens: number[] = [];
    const cachedNumScheduledTokens: number[] = [];
    const newRequests: NewRequestData[] = [];

    // 1. Running requests: a decode token each, or the next prefill chunk. Tokens of a step in
    // flight count as computed, and the tokens it samples as known (placeholders).
    let preempted = false;
    let numDecodeTokens = 0;
    let i = 0;
    while (i < this.running.length && budget > 0) {
      const request = this.running[i];
      const numComputed = request.numComputedTokens + request.numScheduledTokensInFlight;
      const numTokens = request.numTokens + request.numPendingSamples;
      if (ahead && request.numPendingSamples > 0 && (request.numOutputTokens + request.numPendingSamples >= request.maxOutputTokens || numTokens >= this.config.maxModelLen)) {
        i++; // its last token is being sampled in the step in flight
        continue;
      }
      let numNewTokens = numTokens - numComputed;
      if (numNewTokens <= 0) {
        i++;
        continue;
      }
      if (numNewTokens > budget) {
        if (!chunked) {
          i++;
          continue;
        }
        numNewTokens = budget;
      }
      let allocated = this.kv.allocateSlots(request, numNewTokens, undefined, hashedBlocks);
      // An ahead step checked that everything fits (aheadFits); only schedule() preempts.
      while (!allocated && !ahead) {
        const victimIndex = this.policy.pickPreemptionVictim(this.running, i);
        const victim = this.running[victimIndex];
        this.running.splice(victimIndex, 1);
        this.preempt(victim);
        preempted = true;
        if (victim === request) break;
        allocated = this.kv.allocateSlots(request, numNewTokens, undefined, hashedBlocks);
      }
      if (!allocated) {
        if (ahead) i++;
        continue; // running[i] is now the next request
      }

      const numSentBlocks = request.numBlocksSentToExecutor;
      const numBlocks = this.kv.numBlocksOf(request.requestId);
      cachedRequestIds.push(request.requestId);
      cachedNewBlockIds.push(numBlocks > numSentBlocks ? this.kv.blockIdsOf(request.requestId, numSentBlocks) : NO_BLOCK_IDS);
      cachedNumComputedTokens.push(numComputed);
      cachedNumScheduledTokens.push(numNewTokens);
      request.numBlocksSentToExecutor = numBlocks;
      scheduled.push(request);
      scheduledTokens.push(numNewTokens);
      scheduledSamples.push(numComputed + numNewTokens === numTokens);
      // Decode: one token after the whole prompt; anything else (a prompt chunk, a preempted
      // request recomputing its outputs) is prefill work.
      if (numNewTokens === 1 && numComputed >= request.numPromptTokens) numDecodeTokens++;
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
      scheduled.push(request);
      scheduledTokens.push(numNewTokens);
      scheduledSamples.push(prefix.numTokens + numNewTokens === request.numTokens);
      budget -= numNewTokens;
    }

    // An ahead step with nothing to run is not sent; ids to drop wait for the next step.
    if (ahead && scheduled.length === 0) return undefined;

    for (let k = 0; k < scheduled.length; k++) {
      const request = scheduled[k]!;
      request.numScheduledTokensInFlight += scheduledTokens[k]!;
      if (scheduledSamples[k]) request.numPendingSamples++;
      request.numInFlightSteps++;
    }
    const stepId = this.nextStepId++;
    const totalNumScheduledTokens = this.config.maxNumBatchedTokens - budget;
    this.numStepsTotal++;
    this.batchSizeHistogram.observe(scheduled.length);
    this.numTokensPerStepHistogram.observe(totalNumScheduledTokens);
    this.numDecodeTokensTotal += numDecodeTokens;
    this.numPrefillTokensTotal += totalNumScheduledTokens - numDecodeTokens;
    this.recentSteps.add(stepId, scheduled.length, totalNumScheduledTokens - numDecodeTokens, numDecodeTokens);
    this.inFlight.push({ stepId, requests: scheduled, numTokens: scheduledTokens, samples: scheduledSamples, hashedBlocks, poisonedBy: undefined });

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
   * Applies the executor's answer to the oldest step in flight: advances computed tokens,
   * appends the sampled tokens, finishes requests (stop / length / error) and frees or caches
   * their blocks. Results for requests finished meanwhile (aborted, or stopped by the step before
   * while this one was scheduled ahead) are dropped; their blocks are freed once no step in
   * flight holds them. Throws on a result for another step or a token for a request that did not
   * expect one (a broken executor, not a request's fault).
   */
  update(result: StepResult): StepOutputsMessage {
    if (this.discardedStepIds.delete(result.stepId)) return { stepId: result.stepId, outputs: [] };
    const step = this.inFlight[0];
    if (!step || result.stepId !== step.stepId) {
      throw new Error(`result for step ${result.stepId}, but the oldest step in flight is ${step?.stepId ?? 'none'}`);
    }
    this.inFlight.shift();
    const now = this.clock();
    const scheduled = step.requests;
    const outputs: RequestOutput[] = [];
    let anyFinished = false;
    // This step's share of each request's in-flight counters is settled first, whatever happened.
    for (let k = 0; k < scheduled.length; k++) {
      const request = scheduled[k]!;
      request.numScheduledTokensInFlight -= step.numTokens[k]!;
      if (step.samples[k]) request.numPendingSamples--;
      request.numInFlightSteps--;
    }

    const failure = result.error !== undefined ? `the engine failed a step: ${result.error}` : step.poisonedBy;
    if (failure !== undefined) {
      // Its KV is not to be trusted: forget what the step registered before any block is
      // released, and fail a step sent after it as well (it may continue these sequences or hit
      // these blocks).
      this.kv.uncacheBlocks(step.hashedBlocks);
      for (const later of this.inFlight) later.poisonedBy ??= `${failure} (an earlier step this one depended on)`;
      for (const request of scheduled) {
        if (isFinished(request.status)) {
          if (request.numInFlightSteps === 0) this.kv.free(request);
          continue;
        }
        this.finish(request, RequestStatus.FINISHED_ERROR, now, request.numInFlightSteps === 0);
        outputs.push(this.outputOf(request, NO_TOKEN_IDS, undefined, failure));
        anyFinished = true;
      }
    } else {
      for (let k = 0; k < scheduled.length; k++) {
        const request = scheduled[k]!;
        if (isFinished(request.status)) {
          if (request.numInFlightSteps === 0) this.kv.free(request); // finished while in flight
        } else {
          request.numComputedTokens += step.numTokens[k]!;
        }
      }
      for (const sampled of result.sampled) {
        const request = this.requests.get(sampled.requestId);
        if (!request) continue; // finished while in flight: its token is dropped
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
          this.finish(request, RequestStatus.FINISHED_ERROR, now, request.numInFlightSteps === 0);
          outputs.push(this.outputOf(request, NO_TOKEN_IDS, undefined, 'the engine returned no token for this request'));
          anyFinished = true;
        }
      }
    }

    if (anyFinished) this.removeFinishedFromRunning();
    return { stepId: result.stepId, outputs };
  }

  /**
   * Forgets every cached prefix. Without `force`, it refuses (returns false, changes nothing)
   * while any block is held, i.e. while requests run. With `force` — the executor's KV contents
   * were lost (restart, device reset) — it also abandons the steps in flight (their late results
   * are ignored), frees the blocks of requests finished in them, and preempts every running request so
   * that it recomputes from scratch; then it cannot fail. Waiting requests are unaffected.
   */
  resetPrefixCache(options: { readonly force?: boolean } = {}): boolean {
    if (!options.force) return this.kv.resetPrefixCache();
    for (const step of this.inFlight.splice(0)) {
      this.discardedStepIds.add(step.stepId);
      for (const request of step.requests) {
        request.numScheduledTokensInFlight = 0;
        request.numPendingSamples = 0;
        request.numInFlightSteps = 0;
        if (isFinished(request.status)) this.kv.free(request);
      }
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
      numWaitingForGrammarRequests: this.heldForGrammar.size,
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
      numPrefillTokensTotal: this.numPrefillTokensTotal,
      numDecodeTokensTotal: this.numDecodeTokensTotal,
      recentSteps: this.recentSteps.toData(),
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
    if (finishedStatus !== undefined) this.finish(request, finishedStatus, now, request.numInFlightSteps === 0);
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

  private outputOf(request: Request, newTokenIds: readonly number[], logprobs: RequestOutput['logprobs'], error?: string, errorCode?: ErrorCode): RequestOutput {
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
      errorCode,
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
