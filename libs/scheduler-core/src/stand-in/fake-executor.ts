import type { ExecutorSamplingParams, SampledToken, SchedulerOutput, StepResult } from '@deepinfer/contracts';
import { EMPTY_CONTEXT_FINGERPRINT, nextFingerprint } from './context-fingerprint.js';

export interface FakeExecutorOptions {
  readonly numBlocks: number;
  readonly blockSize: number;
  readonly vocabSize: number;
  /**
   * Replaces the model's choice for a request's next token (e.g. to place an EOS); undefined
   * keeps it. The min-tokens ban still applies afterwards, as in the real sampler.
   */
  readonly sampleOverride?: (requestId: string, numOutputTokens: number, modelTokenId: number) => number | undefined;
}

/** What the executor keeps per request between steps. */
interface ExecutorRequestState {
  readonly tokenIds: number[];
  /** [tokenIds.length]: context fingerprint at each position (see context-fingerprint.ts). */
  readonly fingerprints: number[];
  readonly blockIds: number[];
  readonly numPromptTokens: number;
  readonly samplingParams: ExecutorSamplingParams;
  numComputedTokens: number;
}

/**
 * A deterministic in-process stand-in for the executor, for unit tests of the scheduler and of
 * services that drive it (end-to-end tests run the real engine). It follows the step contract
 * the way the real one must, and simulates the paged KV cache: every physical slot holds the token and
 * the context fingerprint written there. A step that computes positions [p, p + n) of request R
 * first writes them (for every request of the step), then checks that every position below
 * p + n in R's block table holds R's token and fingerprint — so a wrong prefix-cache hit, a block
 * reused while still needed, or a lost block throws. The "model" samples a token from the
 * fingerprint of the entire context, so outputs do not depend on batching, chunking, caching or
 * preemption: any difference is a scheduler bug.
 */
export class FakeExecutor {
  private readonly blockSize: number;
  private readonly slotTokenIds: Int32Array;
  private readonly slotFingerprints: Uint32Array;
  private readonly slotWritten: Uint8Array;
  private readonly slotWrittenInStep: Int32Array;
  private readonly states = new Map<string, ExecutorRequestState>();
  /** Tokens whose KV this executor computed, over all steps (prefix-cache hits are not). */
  numComputedTokensTotal = 0;
  numSteps = 0;

  constructor(private readonly options: FakeExecutorOptions) {
    this.blockSize = options.blockSize;
    const numSlots = options.numBlocks * options.blockSize;
    this.slotTokenIds = new Int32Array(numSlots);
    this.slotFingerprints = new Uint32Array(numSlots);
    this.slotWritten = new Uint8Array(numSlots);
    this.slotWrittenInStep = new Int32Array(numSlots);
  }

  /** Requests whose state the executor holds (to check that finished ones are dropped). */
  get heldRequestIds(): string[] {
    return [...this.states.keys()];
  }

  /** Forgets every KV slot (a device reset); the scheduler must be told (resetPrefixCache force). */
  loseKvContents(): void {
    this.slotWritten.fill(0);
    this.states.clear();
  }

  execute(step: SchedulerOutput): StepResult {
    this.numSteps++;
    const stepMark = step.stepId;
    for (const requestId of step.finishedRequestIds) this.states.delete(requestId);
    for (const requestId of step.preemptedRequestIds) this.states.delete(requestId);

    const work: { state: ExecutorRequestState; requestId: string; start: number; count: number }[] = [];
    for (const data of step.newRequests) {
      if (this.states.has(data.requestId)) throw new Error(`new request ${data.requestId} is already held`);
      const tokenIds = [...data.promptTokenIds, ...data.outputTokenIds];
      const state: ExecutorRequestState = {
        tokenIds,
        fingerprints: fingerprintsOf(tokenIds),
        blockIds: [...data.blockIds],
        numPromptTokens: data.promptTokenIds.length,
        samplingParams: data.samplingParams,
        numComputedTokens: data.numComputedTokens,
      };
      this.states.set(data.requestId, state);
      work.push({ state, requestId: data.requestId, start: data.numComputedTokens, count: data.numScheduledTokens });
    }
    const cached = step.cachedRequests;
    for (let i = 0; i < cached.requestIds.length; i++) {
      const requestId = cached.requestIds[i];
      const state = this.states.get(requestId);
      if (!state) throw new Error(`cached request ${requestId} is not held`);
      if (state.numComputedTokens !== cached.numComputedTokens[i]) {
        throw new Error(`request ${requestId}: executor computed ${state.numComputedTokens}, step says ${cached.numComputedTokens[i]}`);
      }
      state.blockIds.push(...cached.newBlockIds[i]);
      work.push({ state, requestId, start: cached.numComputedTokens[i], count: cached.numScheduledTokens[i] });
    }

    let total = 0;
    for (const { state, requestId, start, count } of work) {
      const end = start + count;
      if (count < 1 || end > state.tokenIds.length) throw new Error(`request ${requestId}: bad range [${start}, ${end})`);
      if (state.blockIds.length * this.blockSize < end) throw new Error(`request ${requestId}: block table too short for ${end}`);
      for (let position = start; position < end; position++) {
        const slot = this.slotOf(state, position);
        if (this.slotWrittenInStep[slot] === stepMark) throw new Error(`slot ${slot} written twice in step ${stepMark}`);
        this.slotWrittenInStep[slot] = stepMark;
        this.slotTokenIds[slot] = state.tokenIds[position];
        this.slotFingerprints[slot] = state.fingerprints[position];
        this.slotWritten[slot] = 1;
      }
      total += count;
    }
    if (total !== step.totalNumScheduledTokens) throw new Error(`step ${step.stepId}: ${total} tokens ≠ total ${step.totalNumScheduledTokens}`);
    this.numComputedTokensTotal += total;

    const sampled: SampledToken[] = [];
    for (const { state, requestId, start, count } of work) {
      const end = start + count;
      // Attention reads every earlier position: each must hold this request's own context.
      for (let position = 0; position < end; position++) {
        const slot = this.slotOf(state, position);
        if (!this.slotWritten[slot] || this.slotTokenIds[slot] !== state.tokenIds[position] || this.slotFingerprints[slot] !== state.fingerprints[position]) {
          throw new Error(`request ${requestId}: KV at position ${position} (block ${state.blockIds[Math.floor(position / this.blockSize)]}) is not its context`);
        }
      }
      state.numComputedTokens = end;
      if (end === state.tokenIds.length) {
        const tokenId = this.sample(requestId, state);
        const logprobs = state.samplingParams.logprobs === undefined ? undefined : { logprob: -((tokenId % 7) + 1) / 8 };
        sampled.push(logprobs === undefined ? { requestId, tokenId } : { requestId, tokenId, logprobs });
        state.tokenIds.push(tokenId);
        state.fingerprints.push(nextFingerprint(state.fingerprints[state.fingerprints.length - 1], tokenId, state.tokenIds.length - 1));
      }
    }
    return { stepId: step.stepId, sampled };
  }

  /**
   * The tokens this stand-in generates after `promptTokenIds` when nothing overrides or bans a
   * choice (no sampleOverride, no min-tokens ban hit): what a test of a service expects.
   */
  static referenceTokens(promptTokenIds: readonly number[], numTokens: number, vocabSize: number): number[] {
    const tokenIds = [...promptTokenIds];
    let context = fingerprintsOf(tokenIds).at(-1) ?? EMPTY_CONTEXT_FINGERPRINT;
    const out: number[] = [];
    for (let i = 0; i < numTokens; i++) {
      const tokenId = nextFingerprint(context, 0x5bd1e995, 0) % vocabSize;
      out.push(tokenId);
      tokenIds.push(tokenId);
      context = nextFingerprint(context, tokenId, tokenIds.length - 1);
    }
    return out;
  }

  /** The model's deterministic choice from the whole context, then the min-tokens ban. */
  private sample(requestId: string, state: ExecutorRequestState): number {
    const vocabSize = this.options.vocabSize;
    const numOutputTokens = state.tokenIds.length - state.numPromptTokens;
    const context = state.fingerprints[state.fingerprints.length - 1];
    let tokenId = nextFingerprint(context, 0x5bd1e995, 0) % vocabSize;
    tokenId = this.options.sampleOverride?.(requestId, numOutputTokens, tokenId) ?? tokenId;
    const params = state.samplingParams;
    if (numOutputTokens < params.minTokens) {
      while (params.minTokensBannedTokenIds.includes(tokenId)) tokenId = (tokenId + 1) % vocabSize;
    }
    return tokenId;
  }

  private slotOf(state: ExecutorRequestState, position: number): number {
    return state.blockIds[Math.floor(position / this.blockSize)] * this.blockSize + (position % this.blockSize);
  }
}

function fingerprintsOf(tokenIds: readonly number[]): number[] {
  const fingerprints: number[] = [];
  let previous = EMPTY_CONTEXT_FINGERPRINT;
  for (let position = 0; position < tokenIds.length; position++) {
    previous = nextFingerprint(previous, tokenIds[position], position);
    fingerprints.push(previous);
  }
  return fingerprints;
}
