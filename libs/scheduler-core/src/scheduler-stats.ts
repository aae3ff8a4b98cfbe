import type { HistogramData } from './histogram.js';

/** A snapshot for the admin endpoint; plain data (the app turns it into Prometheus metrics). */
export interface SchedulerStats {
  readonly numWaitingRequests: number;
  /** Guided requests accepted and held until the executor has compiled their grammar (not in numWaitingRequests). */
  readonly numWaitingForGrammarRequests: number;
  readonly numRunningRequests: number;
  /** Preemptions since start (a request preempted twice counts twice). */
  readonly numPreemptionsTotal: number;
  readonly numStepsTotal: number;
  readonly numFinishedRequestsTotal: number;
  readonly draining: boolean;
  readonly kvCache: {
    readonly blockSize: number;
    readonly numBlocksTotal: number;
    /** Held by at least one request (ref count > 0). */
    readonly numBlocksUsed: number;
    /** Free (ref count 0) but still holding a cached prefix: evictable hits. */
    readonly numBlocksCached: number;
    /** numBlocksUsed / numBlocksTotal. */
    readonly usage: number;
  };
  readonly prefixCache: {
    readonly enabled: boolean;
    /** Tokens of admitted requests looked up in the cache (prompt, or prompt + outputs on resume). */
    readonly numQueryTokens: number;
    /** Of those, tokens served from cached blocks. */
    readonly numHitTokens: number;
    /** numHitTokens / numQueryTokens; 0 before any query. */
    readonly hitRate: number;
  };
  /** Requests per step. */
  readonly batchSizeHistogram: HistogramData;
  /** Scheduled tokens per step. */
  readonly numTokensPerStepHistogram: HistogramData;
  /** Scheduled tokens since start that were prefill work (prompt chunks, recomputation) and decode (one token after the prompt). */
  readonly numPrefillTokensTotal: number;
  readonly numDecodeTokensTotal: number;
  /** The last steps scheduled, oldest first (at most RECENT_STEPS). */
  readonly recentSteps: readonly StepSummary[];
}

/** One step as scheduled: its batch and the prefill/decode split of its tokens. */
export interface StepSummary {
  readonly stepId: number;
  readonly numRequests: number;
  readonly numPrefillTokens: number;
  readonly numDecodeTokens: number;
}

/** How many steps `recentSteps` keeps. */
export const RECENT_STEPS = 64;

/** A ring of the last steps' summaries; add() allocates nothing. */
export class RecentSteps {
  private readonly columns: Float64Array;
  private next = 0;
  private count = 0;

  constructor(private readonly capacity: number) {
    this.columns = new Float64Array(capacity * 4);
  }

  add(stepId: number, numRequests: number, numPrefillTokens: number, numDecodeTokens: number): void {
    const at = this.next * 4;
    this.columns[at] = stepId;
    this.columns[at + 1] = numRequests;
    this.columns[at + 2] = numPrefillTokens;
    this.columns[at + 3] = numDecodeTokens;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  toData(): StepSummary[] {
    const out: StepSummary[] = [];
    for (let k = 0; k < this.count; k++) {
      const at = ((this.next - this.count + k + this.capacity) % this.capacity) * 4;
      out.push({ stepId: this.columns[at]!, numRequests: this.columns[at + 1]!, numPrefillTokens: this.columns[at + 2]!, numDecodeTokens: this.columns[at + 3]! });
    }
    return out;
  }
}
