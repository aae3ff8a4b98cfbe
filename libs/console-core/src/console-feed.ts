import type { HealthReply, ServiceName, StatsReply } from '@deepinfer/contracts';
import { percentiles, type Percentiles, type RecentLatencies } from './recent-latencies.js';
import { executorView, schedulerView, serviceRow, type ExecutorView, type SchedulerView, type ServiceRow } from './views.js';

/** Where the feed's data comes from: every instance's health and stats (the api: over NATS). */
export interface ConsoleSource {
  /** Every instance of `service` that answers, with its health. */
  health(service: ServiceName): Promise<HealthReply[]>;
  /** Every instance's admin snapshot. */
  stats(service: 'scheduler' | 'executor'): Promise<StatsReply[]>;
}

export interface ConsoleFeedOptions {
  /** Time between samples (default 1 s). */
  readonly intervalMs?: number;
  /** How much history the plots keep (default 300 s). */
  readonly historyMs?: number;
  /** Sampling stops this long after the last snapshot was asked for (default 60 s). */
  readonly idleStopMs?: number;
  /** The trailing window of each plotted TTFT/ITL point (default 10 s). */
  readonly latencyWindowMs?: number;
  /** The window of the headline TTFT/ITL percentiles (default: the history). */
  readonly summaryWindowMs?: number;
  readonly clock?: () => number;
}

/** One point of the plots: rates over the interval before it, levels at it. */
export interface SeriesPoint {
  /** Epoch milliseconds. */
  readonly t: number;
  /** Tokens generated per second, as the api counted them. */
  readonly tokensPerSecond: number;
  /** Scheduled tokens per second across the schedulers, split into prefill and decode work. */
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  readonly stepsPerSecond: number;
  /** Mean requests per step over the interval (0 without steps). */
  readonly meanBatchSize: number;
  readonly numWaitingRequests: number;
  readonly numRunningRequests: number;
  readonly kvBlocksUsed: number;
  readonly kvBlocksCached: number;
  readonly kvBlocksFree: number;
  /** Prefix-cache hits ÷ lookups (tokens) over the interval; null without lookups. */
  readonly prefixHitRate: number | null;
  /** TTFT and ITL percentiles (seconds) over the trailing latency window. */
  readonly ttftP50: number | null;
  readonly ttftP90: number | null;
  readonly ttftP99: number | null;
  readonly itlP50: number | null;
  readonly itlP90: number | null;
  readonly itlP99: number | null;
}

/** The console's data at one moment: every replica, the aggregates, the plots' history. */
export interface ConsoleSnapshot {
  readonly generatedAt: number;
  readonly sampledAt: number;
  readonly intervalMs: number;
  readonly historyMs: number;
  readonly services: ServiceRow[];
  readonly schedulers: SchedulerView[];
  readonly executors: ExecutorView[];
  /** Across the schedulers: what the dashboard's headline shows. */
  readonly totals: {
    readonly lastBatchSize: number;
    readonly lastPrefillTokens: number;
    readonly lastDecodeTokens: number;
    readonly peakBatchSize: number;
    readonly numWaitingRequests: number;
    readonly numRunningRequests: number;
    readonly kvBlocksTotal: number;
    readonly kvBlocksUsed: number;
    readonly kvBlocksCached: number;
    readonly kvBlocksFree: number;
    readonly prefixQueryTokens: number;
    readonly prefixHitTokens: number;
    readonly prefixHitRate: number;
  };
  /** The api's own view of its requests over `windowMs` (seconds). */
  readonly latency: { readonly windowMs: number; readonly ttft: Percentiles; readonly itl: Percentiles; readonly numTokensTotal: number };
  /** Points after `since` (all of the history without it), oldest first. */
  readonly series: SeriesPoint[];
}

const SERVICES: readonly ServiceName[] = ['api', 'tokenizer', 'scheduler', 'executor'];

interface Counters {
  readonly t: number;
  readonly tokens: number;
  readonly prefill: number;
  readonly decode: number;
  readonly steps: number;
  readonly batchSum: number;
  readonly batchCount: number;
  readonly prefixQuery: number;
  readonly prefixHit: number;
}

/**
 * Samples the stack once per interval while someone watches (a snapshot was asked for within
 * `idleStopMs`), keeps the last `historyMs` of points for the plots, and answers snapshots from
 * the latest sample. Counters of a scheduler that restarted (a new session resets them) count
 * from zero rather than going negative.
 */
export class ConsoleFeed {
  private readonly intervalMs: number;
  private readonly historyMs: number;
  private readonly idleStopMs: number;
  private readonly latencyWindowMs: number;
  private readonly summaryWindowMs: number;
  private readonly clock: () => number;
  private readonly points: SeriesPoint[] = [];
  private latest: Omit<ConsoleSnapshot, 'series' | 'generatedAt' | 'latency'> | undefined;
  /** Per scheduler instance, the counters at the previous sample. */
  private previous = new Map<string, Counters>();
  private previousTokens: { t: number; tokens: number } | undefined;
  private lastWatchedAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly source: ConsoleSource,
    private readonly latencies: RecentLatencies,
    options: ConsoleFeedOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.historyMs = options.historyMs ?? 300_000;
    this.idleStopMs = options.idleStopMs ?? 60_000;
    this.latencyWindowMs = options.latencyWindowMs ?? 10_000;
    this.summaryWindowMs = options.summaryWindowMs ?? this.historyMs;
    this.clock = options.clock ?? Date.now;
  }

  /** Whether the feed is sampling now (someone watched recently). */
  get isSampling(): boolean {
    return this.timer !== undefined;
  }

  /**
   * The latest sample (taking one first when there is none yet, or sampling stopped) and the
   * points after `sinceMs`. Keeps sampling going for `idleStopMs`.
   */
  async snapshot(sinceMs?: number): Promise<ConsoleSnapshot> {
    this.lastWatchedAt = this.clock();
    if (!this.timer && !this.stopped) this.schedule();
    // The first sample after a pause is taken now (one at a time: concurrent callers share it).
    if (!this.latest || this.clock() - this.latest.sampledAt > 2 * this.intervalMs) await this.sample();
    const latest = this.latest!;
    const now = this.latencies.now();
    return {
      ...latest,
      generatedAt: this.clock(),
      latency: {
        windowMs: this.summaryWindowMs,
        ttft: percentiles(this.latencies.ttft.since(now - this.summaryWindowMs)),
        itl: percentiles(this.latencies.itl.since(now - this.summaryWindowMs)),
        numTokensTotal: this.latencies.numTokensTotal,
      },
      series: sinceMs === undefined ? this.points.slice() : this.points.filter((p) => p.t > sinceMs),
    };
  }

  /** Takes one sample now (one at a time: a call while one runs waits for it). */
  sample(): Promise<void> {
    this.sampling ??= this.takeSample().finally(() => (this.sampling = undefined));
    return this.sampling;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      if (this.stopped || this.clock() - this.lastWatchedAt > this.idleStopMs) {
        this.timer = undefined;
        return;
      }
      void this.sample().finally(() => {
        if (this.timer) this.schedule();
      });
    }, this.intervalMs);
    this.timer.unref?.();
  }

  private async takeSample(): Promise<void> {
    const [healths, schedulerStats, executorStats] = await Promise.all([
      Promise.all(SERVICES.map((s) => this.source.health(s).catch(() => [] as HealthReply[]))),
      this.source.stats('scheduler').catch(() => [] as StatsReply[]),
      this.source.stats('executor').catch(() => [] as StatsReply[]),
    ]);
    const t = this.clock();
    const services = healths.flat().map(serviceRow).sort((a, b) => SERVICES.indexOf(a.service as ServiceName) - SERVICES.indexOf(b.service as ServiceName) || a.instanceId.localeCompare(b.instanceId));
    const schedulers = schedulerStats.map(schedulerView).sort((a, b) => a.instanceId.localeCompare(b.instanceId));
    const executors = executorStats.map(executorView).sort((a, b) => a.instanceId.localeCompare(b.instanceId));

    const sum = (f: (s: SchedulerView) => number) => schedulers.reduce((n, s) => n + f(s), 0);
    const totals = {
      lastBatchSize: sum((s) => s.lastStep?.numRequests ?? 0),
      lastPrefillTokens: sum((s) => s.lastStep?.numPrefillTokens ?? 0),
      lastDecodeTokens: sum((s) => s.lastStep?.numDecodeTokens ?? 0),
      peakBatchSize: Math.max(0, ...schedulers.flatMap((s) => s.recentSteps.map((r) => r.numRequests))),
      numWaitingRequests: sum((s) => s.numWaitingRequests),
      numRunningRequests: sum((s) => s.numRunningRequests),
      kvBlocksTotal: sum((s) => s.kvCache.numBlocksTotal),
      kvBlocksUsed: sum((s) => s.kvCache.numBlocksUsed),
      kvBlocksCached: sum((s) => s.kvCache.numBlocksCached),
      kvBlocksFree: sum((s) => s.kvCache.numBlocksFree),
      prefixQueryTokens: sum((s) => s.prefixCache.numQueryTokens),
      prefixHitTokens: sum((s) => s.prefixCache.numHitTokens),
      prefixHitRate: 0,
    };
    totals.prefixHitRate = totals.prefixQueryTokens === 0 ? 0 : totals.prefixHitTokens / totals.prefixQueryTokens;

    // Rates over the interval since the previous sample, per scheduler instance.
    let prefill = 0, decode = 0, steps = 0, batchSum = 0, batchCount = 0, prefixQuery = 0, prefixHit = 0, seconds = 0;
    const next = new Map<string, Counters>();
    for (const s of schedulers) {
      const now: Counters = {
        t,
        tokens: 0,
        prefill: s.numPrefillTokensTotal,
        decode: s.numDecodeTokensTotal,
        steps: s.numStepsTotal,
        batchSum: s.batchSizeHistogram.sum,
        batchCount: s.batchSizeHistogram.count,
        prefixQuery: s.prefixCache.numQueryTokens,
        prefixHit: s.prefixCache.numHitTokens,
      };
      next.set(s.instanceId, now);
      const before = this.previous.get(s.instanceId);
      if (!before) continue;
      const d = (f: (c: Counters) => number) => (f(now) >= f(before) ? f(now) - f(before) : f(now));
      prefill += d((c) => c.prefill);
      decode += d((c) => c.decode);
      steps += d((c) => c.steps);
      batchSum += d((c) => c.batchSum);
      batchCount += d((c) => c.batchCount);
      prefixQuery += d((c) => c.prefixQuery);
      prefixHit += d((c) => c.prefixHit);
      seconds = Math.max(seconds, (t - before.t) / 1000);
    }
    this.previous = next;
    const numTokens = this.latencies.numTokensTotal;
    const tokensSeconds = this.previousTokens ? (t - this.previousTokens.t) / 1000 : 0;
    const tokensPerSecond = tokensSeconds > 0 ? Math.max(0, numTokens - this.previousTokens!.tokens) / tokensSeconds : 0;
    this.previousTokens = { t, tokens: numTokens };
    const rate = (n: number) => (seconds > 0 ? n / seconds : 0);
    const latencyNow = this.latencies.now();
    const ttft = percentiles(this.latencies.ttft.since(latencyNow - this.latencyWindowMs));
    const itl = percentiles(this.latencies.itl.since(latencyNow - this.latencyWindowMs));
    this.points.push({
      t,
      tokensPerSecond,
      prefillTokensPerSecond: rate(prefill),
      decodeTokensPerSecond: rate(decode),
      stepsPerSecond: rate(steps),
      meanBatchSize: batchCount > 0 ? batchSum / batchCount : 0,
      numWaitingRequests: totals.numWaitingRequests,
      numRunningRequests: totals.numRunningRequests,
      kvBlocksUsed: totals.kvBlocksUsed,
      kvBlocksCached: totals.kvBlocksCached,
      kvBlocksFree: totals.kvBlocksFree,
      prefixHitRate: prefixQuery > 0 ? prefixHit / prefixQuery : null,
      ttftP50: ttft.p50,
      ttftP90: ttft.p90,
      ttftP99: ttft.p99,
      itlP50: itl.p50,
      itlP90: itl.p90,
      itlP99: itl.p99,
    });
    while (this.points.length > 0 && this.points[0]!.t < t - this.historyMs) this.points.shift();
    this.latest = { sampledAt: t, intervalMs: this.intervalMs, historyMs: this.historyMs, services, schedulers, executors, totals };
  }
}
