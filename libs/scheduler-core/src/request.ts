import type { BlockHash } from './block-hasher.js';
import { RequestStatus } from './request-status.js';
import type { ExecutorSamplingParams } from '@deepinfer/contracts';
import type { RequestSamplingParams } from './sampling-params.js';

/** Per-request timestamps from the scheduler's monotonic clock (milliseconds). */
export interface RequestTimestamps {
  readonly arrivalTimeMs: number;
  /** First time the request was put in a step; queue time = this − arrival. */
  firstScheduledTimeMs: number | undefined;
  /** When its first output token came back; prefill time = this − firstScheduled. */
  firstTokenTimeMs: number | undefined;
  /** When it finished; decode time = this − firstToken. */
  finishedTimeMs: number | undefined;
}

/** What Request's constructor needs; the scheduler derives it from a submit. */
export interface RequestInit {
  readonly requestId: string;
  readonly promptTokenIds: readonly number[];
  readonly samplingParams: RequestSamplingParams;
  /** Hash that seeds the request's block-hash chain (model identity + cache salt). */
  readonly rootBlockHash: BlockHash;
  /** Output cap after clipping to the context length: min(maxTokens, maxModelLen − prompt). */
  readonly maxOutputTokens: number;
  /** Token ids that end the request (EOS unless ignoreEos, plus stop ids), once minTokens is reached. */
  readonly stopTokenIds: ReadonlySet<number>;
  readonly executorSamplingParams: ExecutorSamplingParams;
  readonly arrivalTimeMs: number;
}

/**
 * One generation request and its progress. Its token list only grows (prompt, then sampled
 * tokens); `numComputedTokens` counts the leading tokens whose KV is in its blocks. A running
 * request has numComputedTokens < numTokens: a decode step computes the last sampled token.
 */
export class Request {
  readonly requestId: string;
  readonly promptTokenIds: readonly number[];
  readonly samplingParams: RequestSamplingParams;
  readonly executorSamplingParams: ExecutorSamplingParams;
  readonly rootBlockHash: BlockHash;
  readonly maxOutputTokens: number;
  readonly stopTokenIds: ReadonlySet<number>;
  readonly minTokens: number;
  /** Prompt followed by every output token so far; only grows. */
  readonly tokenIds: number[];
  /** Hashes of the leading full blocks of tokenIds, computed on demand; only grows. */
  readonly blockHashes: BlockHash[] = [];
  readonly timestamps: RequestTimestamps;

  status: RequestStatus = RequestStatus.WAITING;
  numComputedTokens = 0;
  /** Prompt tokens served from the prefix cache at first admission (usage). */
  numCachedTokens = 0;
  numPreemptions = 0;
  /** The token that ended the request with `stop`, if a token did. */
  stopTokenId: number | undefined = undefined;

  // Scheduler bookkeeping for the step contract.
  /** The executor holds this request's state (sent as new since its last preemption). */
  isKnownToExecutor = false;
  /** Blocks of its table the executor has been told about. */
  numBlocksSentToExecutor = 0;
  /** Tokens scheduled in the steps now at the executor (0 when in none; with asynchronous
   * scheduling up to two steps hold it). Invariant: numComputedTokens + this ≤ numTokens + numPendingSamples. */
  numScheduledTokensInFlight = 0;
  /** Tokens those steps will sample for it: outputs not known yet (placeholders). */
  numPendingSamples = 0;
  /** Steps now at the executor that include it; its blocks are freed only when this is 0. */
  numInFlightSteps = 0;

  constructor(init: RequestInit) {
    this.requestId = init.requestId;
    this.promptTokenIds = init.promptTokenIds;
    this.samplingParams = init.samplingParams;
    this.executorSamplingParams = init.executorSamplingParams;
    this.rootBlockHash = init.rootBlockHash;
    this.maxOutputTokens = init.maxOutputTokens;
    this.stopTokenIds = init.stopTokenIds;
    this.minTokens = init.samplingParams.minTokens ?? 0;
    this.tokenIds = init.promptTokenIds.slice();
    this.timestamps = {
      arrivalTimeMs: init.arrivalTimeMs,
      firstScheduledTimeMs: undefined,
      firstTokenTimeMs: undefined,
      finishedTimeMs: undefined,
    };
  }

  get numTokens(): number {
    return this.tokenIds.length;
  }

  get numPromptTokens(): number {
    return this.promptTokenIds.length;
  }

  get numOutputTokens(): number {
    return this.tokenIds.length - this.promptTokenIds.length;
  }

  outputTokenIds(): number[] {
    return this.tokenIds.slice(this.promptTokenIds.length);
  }
}
