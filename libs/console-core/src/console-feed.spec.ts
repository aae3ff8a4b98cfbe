import type { HealthReply, ServiceName, StatsReply } from '@deepinfer/contracts';
import { ConsoleFeed, type ConsoleSource } from './console-feed.js';
import { percentiles, RecentLatencies, TimedRing } from './recent-latencies.js';

const health = (service: ServiceName, instanceId: string, status: HealthReply['status'] = 'ok'): HealthReply => ({ service, instanceId, status, uptimeSeconds: 5, version: '0.1.0' });

/** A scheduler's /stats body, as EngineLoop.stats() gives it, with the counters given. */
function schedulerStats(instanceId: string, c: { steps: number; prefill: number; decode: number; batchSum: number; query: number; hit: number; recent?: [number, number, number][] }): StatsReply {
  return {
    service: 'scheduler',
    instanceId,
    stats: {
      instanceId,
      executor: { executorId: 'exec-1', device: 'cpu', modelName: 'stories260k' },
      draining: false,
      stepsPerSecond: 3,
      scheduler: {
        numWaitingRequests: 2,
        numRunningRequests: 3,
        numStepsTotal: c.steps,
        numPreemptionsTotal: 0,
        numFinishedRequestsTotal: 1,
        numPrefillTokensTotal: c.prefill,
        numDecodeTokensTotal: c.decode,
        kvCache: { blockSize: 16, numBlocksTotal: 100, numBlocksUsed: 10, numBlocksCached: 5, usage: 0.1 },
        prefixCache: { enabled: true, numQueryTokens: c.query, numHitTokens: c.hit, hitRate: c.query ? c.hit / c.query : 0 },
        batchSizeHistogram: { upperBounds: [1, 2, 4], counts: [0, 0, 0, 0], sum: c.batchSum, count: c.steps },
        numTokensPerStepHistogram: { upperBounds: [1], counts: [0, 0], sum: 0, count: c.steps },
        recentSteps: (c.recent ?? []).map(([numRequests, numPrefillTokens, numDecodeTokens], k) => ({ stepId: k + 1, numRequests, numPrefillTokens, numDecodeTokens })),
      },
    },
  };
}

class FakeSource implements ConsoleSource {
  schedulers: StatsReply[] = [];
  executors: StatsReply[] = [];
  calls = 0;
  health(service: ServiceName): Promise<HealthReply[]> {
    if (service === 'scheduler') this.calls++;
    if (service === 'tokenizer') return Promise.reject(new Error('down'));
    return Promise.resolve(service === 'api' ? [health('api', 'api-b'), health('api', 'api-a', 'degraded')] : [health(service, `${service}-1`)]);
  }
  stats(service: 'scheduler' | 'executor'): Promise<StatsReply[]> {
    return Promise.resolve(service === 'scheduler' ? this.schedulers : this.executors);
  }
}

describe('ConsoleFeed', () => {
  let now = 1_000_000;
  const clock = () => now;

  it('aggregates the replicas, and turns counters into per-interval rates for the plots', async () => {
    const source = new FakeSource();
    const latencies = new RecentLatencies(128, clock);
    const feed = new ConsoleFeed(source, latencies, { clock, intervalMs: 1000, latencyWindowMs: 10_000 });
    try {
      source.schedulers = [schedulerStats('s1', { steps: 10, prefill: 100, decode: 20, batchSum: 30, query: 0, hit: 0, recent: [[4, 10, 3], [0, 0, 0]] })];
      source.executors = [{ service: 'executor', instanceId: 'e1', stats: { executorId: 'exec-1', status: 'ready', device: 'cpu', backend: 'cpu', memory: { weightsBytes: 1000, kvCacheBytes: 500 }, stepTimes: { count: 3, p50Ms: 2, p90Ms: 4, p99Ms: 5, maxMs: 5, histogram: { upperBoundsMs: [1, 5], counts: [1, 2, 0] } } } }];
      const first = await feed.snapshot();
      expect(first.services.map((s) => `${s.service}:${s.instanceId}:${s.status}`)).toEqual(['api:api-a:degraded', 'api:api-b:ok', 'scheduler:scheduler-1:ok', 'executor:executor-1:ok']);
      // The last step that ran requests, not the empty one after it.
      expect(first.totals).toMatchObject({ lastBatchSize: 4, lastPrefillTokens: 10, lastDecodeTokens: 3, peakBatchSize: 4, numWaitingRequests: 2, numRunningRequests: 3, kvBlocksTotal: 100, kvBlocksUsed: 10, kvBlocksCached: 5, kvBlocksFree: 85 });
      expect(first.executors[0]).toMatchObject({ device: 'cpu', memory: { weightsBytes: 1000, kvCacheBytes: 500, deviceTotalBytes: 0 }, stepTimes: { p50Ms: 2, histogram: { counts: [1, 2, 0] } }, model: null });
      expect(first.series).toHaveLength(1);
      expect(first.series[0]).toMatchObject({ prefillTokensPerSecond: 0, prefixHitRate: null });

      now += 2000;
      source.schedulers = [schedulerStats('s1', { steps: 14, prefill: 180, decode: 40, batchSum: 42, query: 200, hit: 150 })];
      latencies.tokens(50);
      latencies.firstToken(0.2);
      latencies.firstToken(0.4);
      for (let k = 1; k <= 100; k++) latencies.interToken(k / 1000);
      await feed.sample();
      const second = await feed.snapshot(first.series[0]!.t);
      expect(second.series).toHaveLength(1);
      expect(second.series[0]).toMatchObject({
        t: now,
        prefillTokensPerSecond: 40,
        decodeTokensPerSecond: 10,
        stepsPerSecond: 2,
        meanBatchSize: 3,
        prefixHitRate: 0.75,
        tokensPerSecond: 25,
        ttftP50: 0.2,
        ttftP99: 0.4,
        itlP50: 0.05,
        itlP90: 0.09,
      });
      expect(second.latency).toMatchObject({ numTokensTotal: 50, ttft: { count: 2, p50: 0.2 }, itl: { count: 100, p99: 0.099 } });
      expect(second.totals).toMatchObject({ prefixQueryTokens: 200, prefixHitTokens: 150, prefixHitRate: 0.75, lastBatchSize: 0 });

      // A scheduler whose counters restart (a new executor session) counts from zero.
      now += 1000;
      source.schedulers = [schedulerStats('s1', { steps: 2, prefill: 8, decode: 0, batchSum: 2, query: 8, hit: 0 })];
      await feed.sample();
      const third = await feed.snapshot();
      expect(third.series.at(-1)).toMatchObject({ prefillTokensPerSecond: 8, stepsPerSecond: 2 });
      expect(third.series).toHaveLength(3);
    } finally {
      feed.stop();
    }
  });

  it('keeps only the history window of points', async () => {
    const source = new FakeSource();
    const feed = new ConsoleFeed(source, new RecentLatencies(8, clock), { clock, historyMs: 3000, intervalMs: 60_000 });
    try {
      await feed.snapshot();
      for (let k = 0; k < 6; k++) {
        now += 1000;
        await feed.sample();
      }
      const snapshot = await feed.snapshot();
      expect(snapshot.series.map((p) => p.t)).toEqual([now - 3000, now - 2000, now - 1000, now]);
    } finally {
      feed.stop();
    }
  });

  it('samples on its own only while watched', async () => {
    const source = new FakeSource();
    const feed = new ConsoleFeed(source, new RecentLatencies(8), { intervalMs: 20, idleStopMs: 150 });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      await sleep(60);
      expect(source.calls).toBe(0);
      expect(feed.isSampling).toBe(false);
      // Two viewers arriving together share the first sample and one sampling loop.
      await Promise.all([feed.snapshot(), feed.snapshot()]);
      expect(source.calls).toBe(1);
      expect(feed.isSampling).toBe(true);
      await sleep(100);
      expect(source.calls).toBeLessThanOrEqual(7);
      await sleep(300);
      // Sampled every 20 ms until 150 ms after the snapshot, then stopped.
      expect(source.calls).toBeGreaterThanOrEqual(3);
      expect(feed.isSampling).toBe(false);
      const calls = source.calls;
      await sleep(100);
      expect(source.calls).toBe(calls);
      await feed.snapshot();
      expect(feed.isSampling).toBe(true);
    } finally {
      feed.stop();
    }
    expect(feed.isSampling).toBe(false);
  });
});

describe('RecentLatencies', () => {
  it('reads the observations of a trailing window from a bounded ring', () => {
    let t = 0;
    const ring = new TimedRing(3);
    for (const v of [1, 2, 3, 4]) ring.add(v, (t += 10));
    expect(ring.since(20)).toEqual([4, 3, 2].filter((v) => v * 10 >= 20));
    expect(ring.since(0)).toEqual([4, 3, 2]); // 1 fell out of the ring
  });

  it('computes nearest-rank percentiles', () => {
    expect(percentiles([])).toEqual({ count: 0, p50: null, p90: null, p99: null });
    expect(percentiles([3, 1, 2, 4])).toEqual({ count: 4, p50: 2, p90: 4, p99: 4 });
  });
});
