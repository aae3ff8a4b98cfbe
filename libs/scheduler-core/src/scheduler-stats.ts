import type { HistogramData } from './histogram.js';

/** A snapshot for the admin endpoint; plain data (the app turns it into Prometheus metrics). */
export interface SchedulerStats {
  readonly numWaitingRequests: number;
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
}
