import { RecentSteps } from './scheduler-stats.js';
import { checkKvInvariants } from './test-support/check-kv-invariants.js';
import { collectOutputs, driveScheduler, type CollectedOutput } from './test-support/drive-scheduler.js';
import { createFixture } from './test-support/scheduler-fixture.js';

const range = (start: number, end: number) => Array.from({ length: end - start }, (_, i) => start + i);

describe('Scheduler: abort', () => {
  it('frees the blocks of a request aborted while its step is at the executor when the result comes back', () => {
    const { scheduler, executor } = createFixture({ blockSize: 4 });
    scheduler.submit({ requestId: 'a', promptTokenIds: range(1, 10), samplingParams: { maxTokens: 20 } });
    scheduler.submit({ requestId: 'b', promptTokenIds: range(100, 104), samplingParams: { maxTokens: 20 } });
    const pool = scheduler.kvCacheManager.pool;
    const step = scheduler.schedule();
    expect(pool.numUsedBlocks).toBe(4); // a: 3 blocks, b: 1

    const final = scheduler.abort('a');
    expect(final).toMatchObject({ requestId: 'a', newTokenIds: [], finishReason: 'abort', numOutputTokens: 0 });
    expect(pool.numUsedBlocks).toBe(4); // the executor is still writing them
    expect(scheduler.abort('a')).toBeUndefined();

    const outputs = scheduler.update(executor.execute(step));
    expect(outputs.outputs.map((o) => o.requestId)).toEqual(['b']); // a's token is dropped
    expect(pool.numUsedBlocks).toBe(1);
    checkKvInvariants(scheduler.kvCacheManager);
    const next = scheduler.schedule();
    expect(next.finishedRequestIds).toEqual(['a']);
    scheduler.update(executor.execute(next));
    expect(executor.heldRequestIds).toEqual(['b']);
  });

  it('frees at once when no step is in flight, and forgets a waiting request silently', () => {
    const { scheduler, executor } = createFixture({ blockSize: 4, maxNumSeqs: 1 });
    scheduler.submit({ requestId: 'a', promptTokenIds: range(1, 10), samplingParams: { maxTokens: 20 } });
    scheduler.submit({ requestId: 'w', promptTokenIds: range(1, 10), samplingParams: { maxTokens: 20 } });
    scheduler.update(executor.execute(scheduler.schedule()));
    expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBe(3);
    expect(scheduler.abort('a', 'stop')).toMatchObject({ finishReason: 'stop', numOutputTokens: 1 }); // a stop string hit
    expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBe(0);
    expect(scheduler.abort('w', 'error')).toMatchObject({ finishReason: 'error', numOutputTokens: 0 });
    const step = scheduler.schedule();
    expect(step.finishedRequestIds).toEqual(['a']); // w never reached the executor
    scheduler.update(executor.execute(step));
    expect(scheduler.hasWork()).toBe(false);
  });

  it('keeps the blocks an aborted request completed in its last step: that KV was written', () => {
    const { scheduler, executor } = createFixture({ blockSize: 4, maxNumBatchedTokens: 8 });
    const prompt = range(1, 21); // 20 tokens: three chunks of ≤ 8
    scheduler.submit({ requestId: 'a', promptTokenIds: prompt, samplingParams: { maxTokens: 5 } });
    scheduler.update(executor.execute(scheduler.schedule())); // tokens [0, 8)
    const step = scheduler.schedule(); // tokens [8, 16)
    scheduler.abort('a');
    scheduler.update(executor.execute(step));
    expect(scheduler.kvCacheManager.pool.numCachedFreeBlocks).toBe(4);
    // A new request hits all four, and the FakeExecutor checks their contents.
    scheduler.submit({ requestId: 'b', promptTokenIds: prompt, samplingParams: { maxTokens: 2 } });
    const outputs = driveScheduler(scheduler, executor, { checkInvariants: true });
    expect(outputs.get('b')?.numCachedTokens).toBe(16);
  });
});

describe('Scheduler: executor failures and KV loss', () => {
  it('a failed step ends its requests with error and rolls back the cache entries it made', () => {
    const { scheduler, executor } = createFixture({ blockSize: 4 });
    scheduler.submit({ requestId: 'a', promptTokenIds: range(1, 13), samplingParams: { maxTokens: 5 } });
    const step = scheduler.schedule();
    expect(scheduler.kvCacheManager.pool.numHashedBlocks).toBe(3);
    const outputs = scheduler.update({ stepId: step.stepId, sampled: [], error: 'device lost' });
    expect(outputs.outputs).toMatchObject([{ requestId: 'a', finishReason: 'error' }]);
    expect(scheduler.kvCacheManager.pool.numHashedBlocks).toBe(0);
    expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBe(0);
    checkKvInvariants(scheduler.kvCacheManager);
    scheduler.submit({ requestId: 'b', promptTokenIds: range(1, 13), samplingParams: { maxTokens: 2 } });
    expect(driveScheduler(scheduler, executor).get('b')?.numCachedTokens).toBe(0);
  });

  it('a request due a token that gets none ends with error; a token not due is a contract violation', () => {
    const { scheduler, executor } = createFixture({ blockSize: 4, maxNumBatchedTokens: 4 });
    scheduler.submit({ requestId: 'a', promptTokenIds: range(1, 4), samplingParams: { maxTokens: 5 } });
    scheduler.submit({ requestId: 'b', promptTokenIds: range(1, 9), samplingParams: { maxTokens: 5 } });
    const step = scheduler.schedule(); // a: 3 tokens (due a token), b: first chunk of 1
    executor.execute(step);
    expect(() => scheduler.update({ stepId: step.stepId, sampled: [{ requestId: 'b', tokenId: 1 }] })).toThrow(/not due a token/);
    const { scheduler: s2 } = createFixture({ blockSize: 4 });
    s2.submit({ requestId: 'a', promptTokenIds: range(1, 4), samplingParams: { maxTokens: 5 } });
    const step2 = s2.schedule();
    expect(s2.update({ stepId: step2.stepId, sampled: [] }).outputs).toMatchObject([{ requestId: 'a', finishReason: 'error' }]);
    expect(s2.kvCacheManager.pool.numUsedBlocks).toBe(0);
  });

  it('resetPrefixCache refuses while blocks are held, and forced (KV lost) recomputes everything exactly', () => {
    const requests = Array.from({ length: 6 }, (_, i) => ({
      requestId: `r${i}`,
      promptTokenIds: [...range(1, 13), ...range(50 + i, 53 + i)],
      samplingParams: { maxTokens: 12 },
    }));
    const reference = createFixture({ blockSize: 4 });
    for (const request of requests) reference.scheduler.submit(request);
    const expected = driveScheduler(reference.scheduler, reference.executor);

    const { scheduler, executor } = createFixture({ blockSize: 4 });
    for (const request of requests) scheduler.submit(request);
    const outputs = new Map<string, CollectedOutput>();
    for (let i = 0; i < 4; i++) collectOutputs(scheduler.update(executor.execute(scheduler.schedule())), outputs);
    expect(scheduler.resetPrefixCache()).toBe(false);
    expect(scheduler.kvCacheManager.pool.numHashedBlocks).toBeGreaterThan(0);

    const inFlight = scheduler.schedule();
    executor.loseKvContents(); // the device was reset mid-step
    expect(scheduler.resetPrefixCache({ force: true })).toBe(true);
    expect(scheduler.kvCacheManager.pool.numHashedBlocks).toBe(0);
    expect(scheduler.numRunningRequests).toBe(0);
    expect(scheduler.update({ stepId: inFlight.stepId, sampled: [] }).outputs).toEqual([]); // the late result is ignored
    const resumed = scheduler.schedule();
    expect(resumed.preemptedRequestIds.length).toBe(6);
    expect(resumed.newRequests[0]).toMatchObject({ requestId: 'r0', numComputedTokens: 0 });
    expect(resumed.newRequests[0].outputTokenIds.length).toBeGreaterThan(0);
    collectOutputs(scheduler.update(executor.execute(resumed)), outputs);
    driveScheduler(scheduler, executor, { checkInvariants: true }, outputs);
    // No token lost or repeated across the reset.
    const tokens = (collected: Map<string, CollectedOutput>) => Object.fromEntries([...collected].map(([id, o]) => [id, o.tokenIds]));
    expect(tokens(outputs)).toEqual(tokens(expected));
    expect(scheduler.resetPrefixCache()).toBe(true); // idle now
  });
});

describe('Scheduler: drain mode, stats and timestamps', () => {
  it('refuses new requests while draining and finishes the accepted ones', () => {
    const { scheduler, executor } = createFixture();
    scheduler.submit({ requestId: 'a', promptTokenIds: [1, 2, 3], samplingParams: { maxTokens: 3 } });
    scheduler.setDraining(true);
    expect(scheduler.submit({ requestId: 'b', promptTokenIds: [1], samplingParams: { maxTokens: 3 } })).toMatchObject({
      accepted: false,
      reason: 'draining',
    });
    expect(scheduler.stats().draining).toBe(true);
    expect(driveScheduler(scheduler, executor).get('a')?.finishReason).toBe('length');
    scheduler.setDraining(false);
    expect(scheduler.submit({ requestId: 'b', promptTokenIds: [1], samplingParams: { maxTokens: 3 } })).toEqual({ accepted: true });
  });

  it('reports queue, prefill and decode times from the injected clock, and step stats', () => {
    let now = 1000;
    const { scheduler, executor } = createFixture({ clock: () => now, maxNumSeqs: 1 });
    scheduler.submit({ requestId: 'a', promptTokenIds: [1, 2, 3], samplingParams: { maxTokens: 3 } });
    scheduler.submit({ requestId: 'b', promptTokenIds: [4, 5], samplingParams: { maxTokens: 1 } });
    expect(scheduler.stats()).toMatchObject({ numWaitingRequests: 2, numRunningRequests: 0 });
    now = 1010;
    const step = scheduler.schedule();
    expect(scheduler.stats()).toMatchObject({ numWaitingRequests: 1, numRunningRequests: 1, kvCache: { numBlocksUsed: 1, numBlocksTotal: 256 } });
    now = 1015;
    scheduler.update(executor.execute(step));
    const metrics = [];
    for (const t of [1020, 1030, 1040, 1050]) {
      now = t;
      const outputs = scheduler.update(executor.execute(scheduler.schedule()));
      for (const o of outputs.outputs) if (o.metrics) metrics.push([o.requestId, o.metrics]);
    }
    expect(metrics).toEqual([
      ['a', expect.objectContaining({ arrivalTimeMs: 1000, queueTimeMs: 10, prefillTimeMs: 5, decodeTimeMs: 15, numPreemptions: 0 })],
      ['b', expect.objectContaining({ queueTimeMs: 40, prefillTimeMs: 0, decodeTimeMs: 0 })],
    ]);
    const stats = scheduler.stats();
    expect(stats).toMatchObject({ numStepsTotal: 5, numFinishedRequestsTotal: 2, numPreemptionsTotal: 0, numWaitingRequests: 0 });
    expect(stats.batchSizeHistogram).toMatchObject({ upperBounds: [1], counts: [5, 0], sum: 4, count: 5 }); // maxNumSeqs 1
    expect(stats.numTokensPerStepHistogram.sum).toBe(3 + 1 + 1 + 2 + 0);
    // a's prompt (3) and b's (2) are prefill; a's two tokens after its prompt are decode.
    expect(stats).toMatchObject({ numPrefillTokensTotal: 5, numDecodeTokensTotal: 2 });
    expect(stats.recentSteps.map((s) => [s.numRequests, s.numPrefillTokens, s.numDecodeTokens])).toEqual([[1, 3, 0], [1, 0, 1], [1, 0, 1], [1, 2, 0], [0, 0, 0]]);
    expect(stats.recentSteps.map((s) => s.stepId)).toEqual([...stats.recentSteps.keys()].map((k) => stats.recentSteps[0]!.stepId + k));
  });
});

describe('RecentSteps', () => {
  it('keeps the last steps, oldest first', () => {
    const ring = new RecentSteps(3);
    for (let id = 1; id <= 5; id++) ring.add(id, id, 10 * id, id % 2);
    expect(ring.toData()).toEqual([
      { stepId: 3, numRequests: 3, numPrefillTokens: 30, numDecodeTokens: 1 },
      { stepId: 4, numRequests: 4, numPrefillTokens: 40, numDecodeTokens: 0 },
      { stepId: 5, numRequests: 5, numPrefillTokens: 50, numDecodeTokens: 1 },
    ]);
  });
});

describe('Scheduler: requests held for their grammar', () => {
  const guided = { kind: 'regex' as const, pattern: '[a-z]+' };

  it('a refused grammar ends a held request with error and bad_request; it never reached a step, so nothing of it was streamed', () => {
    const { scheduler, executor } = createFixture({ blockSize: 4 });
    scheduler.submit({ requestId: 'g', promptTokenIds: range(1, 10), samplingParams: { maxTokens: 5, guided } }, { holdForGrammar: true });
    scheduler.submit({ requestId: 'free', promptTokenIds: range(1, 10), samplingParams: { maxTokens: 5 } });
    const step = scheduler.schedule();
    expect(step.newRequests.map((r) => r.requestId)).toEqual(['free']);
    expect(scheduler.refuseGrammar('free', 'x')).toBeUndefined(); // not held: refusal cannot end a request that runs
    const final = scheduler.refuseGrammar('g', 'guided decoding: the grammar cannot be compiled: too big');
    expect(final).toEqual(expect.objectContaining({ requestId: 'g', newTokenIds: [], finishReason: 'error', numOutputTokens: 0, error: 'guided decoding: the grammar cannot be compiled: too big', errorCode: 'bad_request' }));
    expect(scheduler.numWaitingForGrammarRequests).toBe(0);
    expect(scheduler.refuseGrammar('g', 'x')).toBeUndefined(); // gone
    scheduler.update(executor.execute(step));
    const next = scheduler.schedule();
    expect(next.finishedRequestIds).toEqual([]); // g was never known to the executor
    expect(executor.heldRequestIds).toEqual(['free']);
  });

  it('an abort while held wins over a late refusal; released requests are not refusable', () => {
    const { scheduler } = createFixture({ blockSize: 4 });
    scheduler.submit({ requestId: 'a', promptTokenIds: range(1, 5), samplingParams: { maxTokens: 5, guided } }, { holdForGrammar: true });
    scheduler.submit({ requestId: 'b', promptTokenIds: range(1, 5), samplingParams: { maxTokens: 5, guided } }, { holdForGrammar: true });
    expect(scheduler.abort('a', 'abort')).toMatchObject({ finishReason: 'abort' });
    expect(scheduler.abort('a', 'abort')).toBeUndefined();
    expect(scheduler.refuseGrammar('a', 'x')).toBeUndefined();
    expect(scheduler.releaseGrammarHold('b')).toBe(true);
    expect(scheduler.refuseGrammar('b', 'x')).toBeUndefined();
    expect(scheduler.schedule().newRequests.map((r) => r.requestId)).toEqual(['b']);
  });

  it('ordinary failures carry no error code (the api answers 500 for them)', () => {
    const { scheduler } = createFixture({ blockSize: 4 });
    scheduler.submit({ requestId: 'w', promptTokenIds: range(1, 5), samplingParams: { maxTokens: 5 } });
    expect(scheduler.abort('w', 'error', 'boom')).toMatchObject({ finishReason: 'error', error: 'boom', errorCode: undefined });
  });
});
