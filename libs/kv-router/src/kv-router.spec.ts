import { ROUTERS } from '@deepinfer/config';
import type { KvEventsMessage, ReplicaStatusMessage } from '@deepinfer/contracts';
import { KvCacheManager, Request, type BlockHash } from '@deepinfer/scheduler-core';
import { KvEventBatcher } from './kv-event-batcher.js';
import { KvIndex } from './kv-index.js';
import { KvRouter, ROUTING_POLICIES } from './kv-router.js';

const BLOCK = 16;
const MODEL_KEY = 'rev-1';

function status(replicaId: string, over: Partial<ReplicaStatusMessage> = {}): ReplicaStatusMessage {
  return {
    replicaId,
    schedulerInstanceId: `sched-${replicaId}`,
    hasExecutor: true,
    draining: false,
    modelCacheKey: MODEL_KEY,
    blockSize: BLOCK,
    numRunning: 0,
    numWaiting: 0,
    numFreeBlocks: 1000,
    numBlocks: 1000,
    maxNumSeqs: 64,
    kvEventSeq: 0,
    ...over,
  };
}

const tokens = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (seed * 7919 + i * 104729) % 5000);

/**
 * A real scheduler-core KvCacheManager that caches `prompt` the way the scheduler does, its
 * events gathered by a KvEventBatcher: what a replica would publish.
 */
class ReplicaCache {
  readonly messages: KvEventsMessage[] = [];
  readonly batcher: KvEventBatcher;
  readonly kv: KvCacheManager;
  private n = 0;
  constructor(readonly replicaId: string, numBlocks = 1000) {
    this.batcher = new KvEventBatcher({ replicaId, schedulerInstanceId: `sched-${replicaId}`, publish: (m) => this.messages.push(m), setTimer: () => undefined });
    this.kv = new KvCacheManager({ numBlocks, blockSize: BLOCK, enablePrefixCaching: true, listener: this.batcher });
  }
  run(prompt: number[]): void {
    const request = new Request({
      requestId: `${this.replicaId}-${this.n++}`,
      promptTokenIds: prompt,
      samplingParams: { maxTokens: 1 } as never,
      rootBlockHash: this.kv.hashRoot(JSON.stringify([MODEL_KEY, null])),
      maxOutputTokens: 1,
      stopTokenIds: new Set<number>(),
      executorSamplingParams: {} as never,
      arrivalTimeMs: 0,
    });
    const prefix = this.kv.findCachedPrefix(request);
    if (!this.kv.allocateSlots(request, prompt.length - prefix.numTokens, prefix)) throw new Error('no room');
    this.kv.free(request);
  }
  drain(router: KvRouter): void {
    this.batcher.flush();
    for (const m of this.messages.splice(0)) router.onKvEvents(m);
  }
}

describe('KvIndex', () => {
  it('gives each slot its number of leading blocks held, stopping at the first gap', () => {
    const index = new KvIndex(4);
    index.store(0, ['a', 'b', 'c']);
    index.store(1, ['a', 'c']);
    index.store(3, ['a', 'b', 'c', 'd']);
    const out = new Int32Array(4);
    index.overlaps(['a', 'b', 'c', 'd'], out);
    expect([...out]).toEqual([3, 1, 0, 4]);
    index.remove(3, ['b']);
    index.overlaps(['a', 'b', 'c', 'd'], out);
    expect([...out]).toEqual([3, 1, 0, 1]);
    index.clear(0);
    index.overlaps(['a', 'b', 'c', 'd'], out);
    expect([...out]).toEqual([0, 1, 0, 1]);
    expect(index.size).toBe(3);
  });

  it('handles slot 31 (the sign bit)', () => {
    const index = new KvIndex(32);
    index.store(31, ['x', 'y']);
    const out = new Int32Array(32);
    index.overlaps(['x', 'y', 'z'], out);
    expect(out[31]).toBe(2);
    index.clear(31);
    expect(index.size).toBe(0);
  });
});

describe('KvRouter', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 0));

  it('computes the scheduler\'s own block hashes: a prompt cached on one replica routes there', () => {
    const router = new KvRouter({ policy: 'kv', clock });
    const caches = ['r0', 'r1', 'r2'].map((id) => new ReplicaCache(id));
    for (const c of caches) router.onStatus(status(c.replicaId));
    const shared = tokens(160, 1);
    caches[1]!.run([...shared, ...tokens(20, 2)]);
    caches[1]!.drain(router);
    const decision = router.route({ tokenIds: [...shared, ...tokens(30, 3)] });
    expect(decision).toEqual({ replicaId: 'r1', reason: 'kv', overlapBlocks: 10, promptBlocks: 11 });
    // A different cache salt shares nothing.
    expect(router.route({ tokenIds: [...shared, 1], cacheSalt: 'tenant-b' })?.reason).toBe('least_load');
  });

  it('sends a conversation’s next turn where the first went, before the first turn’s events arrive', () => {
    const router = new KvRouter({ policy: 'kv', clock });
    router.onStatus(status('r0'));
    router.onStatus(status('r1'));
    const shared = tokens(160, 4);
    const first = router.route({ tokenIds: [...shared, ...tokens(5, 5)], maxTokens: 16 })!;
    expect(first.reason).toBe('least_load');
    // No KV event yet (they come batched, later): the router indexed the prompt it routed.
    expect(router.route({ tokenIds: [...shared, ...tokens(7, 6)], maxTokens: 16 })).toMatchObject({ replicaId: first.replicaId, reason: 'kv', overlapBlocks: 10 });
  });

  it('balances by load when nothing overlaps, and lets load outweigh a small overlap', () => {
    const router = new KvRouter({ policy: 'kv', clock });
    router.onStatus(status('r0', { numFreeBlocks: 500 }));
    router.onStatus(status('r1', { numFreeBlocks: 900 }));
    expect(router.route({ tokenIds: tokens(64, 1) })).toMatchObject({ replicaId: 'r1', reason: 'least_load' });
    const cache = new ReplicaCache('r0');
    cache.run(tokens(64, 9));
    cache.drain(router);
    // 4 blocks cached on r0, but r0 carries 500 blocks of load against r1's 100 + pending.
    expect(router.route({ tokenIds: tokens(64, 9) })).toMatchObject({ replicaId: 'r1', reason: 'least_load' });
  });

  it('counts prompts routed since the last status as load (no pile-up between heartbeats)', () => {
    const router = new KvRouter({ policy: 'kv', clock });
    router.onStatus(status('r0'));
    router.onStatus(status('r1'));
    const chosen = Array.from({ length: 10 }, (_, i) => router.route({ tokenIds: tokens(100, i) })!.replicaId);
    expect(chosen.filter((r) => r === 'r0').length).toBe(5);
    // Short prompts with long answers spread too: the output budget counts.
    now = 250;
    router.onStatus(status('r0', { numFreeBlocks: 998 }));
    router.onStatus(status('r1'));
    const streams = Array.from({ length: 8 }, (_, i) => router.route({ tokenIds: tokens(10, i), maxTokens: 480 })!.replicaId);
    expect(streams.filter((r) => r === 'r0').length).toBe(4);
  });

  it('round-robins with policy round_robin, skipping replicas without an executor or draining', () => {
    const router = new KvRouter({ policy: 'round_robin', clock });
    router.onStatus(status('r0'));
    router.onStatus(status('r1', { hasExecutor: false }));
    router.onStatus(status('r2'));
    router.onStatus(status('r3', { draining: true }));
    const chosen = Array.from({ length: 4 }, () => router.route({ tokenIds: tokens(40, 1) })!.replicaId);
    expect(chosen.sort()).toEqual(['r0', 'r0', 'r2', 'r2']);
    expect(router.route({ tokenIds: [1, 2], exclude: new Set(['r0', 'r2']) })).toBeUndefined();
  });

  it('keeps a user on one replica with session affinity, until that replica is gone', () => {
    const router = new KvRouter({ policy: 'round_robin', sessionAffinity: true, clock, silenceMs: 1500 });
    router.onStatus(status('r0'));
    router.onStatus(status('r1'));
    const first = router.route({ tokenIds: [1, 2, 3], user: 'alice' })!.replicaId;
    for (let i = 0; i < 5; i++) expect(router.route({ tokenIds: [1, 2, 3], user: 'alice' })).toMatchObject({ replicaId: first, reason: 'affinity' });
    now = 1000;
    router.onStatus(status(first === 'r0' ? 'r1' : 'r0'));
    now = 2000;
    expect(router.sweep()).toEqual([first]);
    expect(router.route({ tokenIds: [1, 2, 3], user: 'alice' })!.replicaId).not.toBe(first);
  });

  it('drops a silent replica and forgets its blocks', () => {
    const router = new KvRouter({ policy: 'kv', clock, silenceMs: 1500 });
    const c0 = new ReplicaCache('r0');
    router.onStatus(status('r0'));
    router.onStatus(status('r1'));
    c0.run(tokens(64, 1));
    c0.drain(router);
    expect(router.numIndexedBlocks).toBe(4);
    now = 1000;
    router.onStatus(status('r1'));
    expect(router.sweep()).toEqual([]);
    now = 1600;
    expect(router.sweep()).toEqual(['r0']);
    expect(router.numIndexedBlocks).toBe(0);
    expect(router.views().map((v) => v.replicaId)).toEqual(['r1']);
  });

  it('rebuilds from events: a restarted router, a gap and a restarted scheduler each end in a resync with the same index', () => {
    const cache = new ReplicaCache('r0');
    for (let i = 0; i < 5; i++) cache.run(tokens(100, i));
    cache.batcher.flush();
    const upToNow = cache.messages.splice(0);
    const seq = cache.batcher.seq;

    // A router that starts now asks for the full set (the replica already has events).
    const router = new KvRouter({ policy: 'kv', clock });
    expect(router.onStatus(status('r0', { kvEventSeq: seq }))).toEqual({ joined: 'r0', resync: 'r0' });
    expect(router.onKvEvents(upToNow.at(-1)!)).toEqual({});
    expect(router.numIndexedBlocks).toBe(0);
    cache.batcher.resync([...cache.kv.pool.cachedBlocks()].map(([h]) => h));
    cache.drain(router);
    expect(router.numIndexedBlocks).toBe(30);
    expect(router.route({ tokenIds: tokens(100, 2) })).toMatchObject({ replicaId: 'r0', overlapBlocks: 6 });

    // A lost message: the next one's seq shows the gap.
    cache.run(tokens(100, 7));
    cache.batcher.flush();
    cache.messages.splice(0);
    cache.run(tokens(100, 8));
    cache.batcher.flush();
    expect(router.onKvEvents(cache.messages.splice(0)[0]!)).toEqual({ resync: 'r0' });
    expect(router.views()[0]).toMatchObject({ kvEventsInSync: false, numIndexedBlocks: 0 });
    cache.batcher.resync([...cache.kv.pool.cachedBlocks()].map(([h]) => h));
    cache.drain(router);
    expect(router.views()[0]).toMatchObject({ kvEventsInSync: true, numIndexedBlocks: 42 });

    // A lost tail shows in the status's kvEventSeq.
    cache.run(tokens(100, 10));
    cache.batcher.flush();
    cache.messages.splice(0);
    now = 2000;
    expect(router.onStatus(status('r0', { kvEventSeq: cache.batcher.seq }))).toEqual({ resync: 'r0' });

    // A restarted scheduler (new instance id) starts the replica over.
    expect(router.onStatus(status('r0', { schedulerInstanceId: 'sched-r0-b', kvEventSeq: 0 }))).toEqual({ joined: 'r0', lost: { replicaId: 'r0', schedulerInstanceId: 'sched-r0' } });
    expect(router.views()[0]).toMatchObject({ kvEventsInSync: true, numIndexedBlocks: 0 });
  });

  it('follows evictions: a replica whose blocks were evicted stops attracting the prefix', () => {
    const router = new KvRouter({ policy: 'kv', clock });
    const small = new ReplicaCache('r0', 12);
    router.onStatus(status('r0', { numBlocks: 12, numFreeBlocks: 12 }));
    router.onStatus(status('r1', { numBlocks: 12, numFreeBlocks: 12 }));
    small.run(tokens(160, 1));
    small.drain(router);
    expect(router.route({ tokenIds: tokens(170, 1) })).toMatchObject({ replicaId: 'r0', overlapBlocks: 10 });
    small.run(tokens(160, 2)); // evicts most of the first prompt's blocks
    small.drain(router);
    now = 300;
    router.onStatus(status('r0', { numBlocks: 12, numFreeBlocks: 12, kvEventSeq: small.batcher.seq }));
    router.onStatus(status('r1', { numBlocks: 12, numFreeBlocks: 12 }));
    expect(router.route({ tokenIds: tokens(170, 1) })!.overlapBlocks).toBeLessThan(10);
  });
});

describe('KvEventBatcher', () => {
  it('batches, cancels a store removed in the same batch, and chunks a large resync', () => {
    const sent: KvEventsMessage[] = [];
    const timers: (() => void)[] = [];
    const b = new KvEventBatcher({ replicaId: 'r0', schedulerInstanceId: 's', publish: (m) => sent.push(m), setTimer: (fn) => timers.push(fn) });
    b.onStored('a' as BlockHash);
    b.onStored('b' as BlockHash);
    b.onRemoved('a' as BlockHash);
    b.onRemoved('z' as BlockHash);
    expect(timers.length).toBe(1);
    timers[0]!();
    expect(sent).toEqual([{ replicaId: 'r0', schedulerInstanceId: 's', seq: 1, stored: ['b'], removed: ['z'] }]);
    b.onStored('c' as BlockHash);
    b.onCleared();
    b.flush();
    expect(sent[1]).toEqual({ replicaId: 'r0', schedulerInstanceId: 's', seq: 2, cleared: true, stored: [], removed: [] });
    b.resync(Array.from({ length: 40000 }, (_, i) => `h${i}`));
    expect(sent.slice(2).map((m) => [m.seq, m.cleared ?? false, m.stored.length])).toEqual([[3, true, 16384], [4, false, 16384], [5, false, 7232]]);
    expect(b.seq).toBe(5);
  });
});

test('the router setting offers exactly the routing policies', () => {
  expect([...ROUTERS]).toEqual([...ROUTING_POLICIES]);
});
