import type { SubmitRequest } from './submit-request.js';
import { driveScheduler, type CollectedOutput } from './test-support/drive-scheduler.js';
import { createFixture, type FixtureOptions } from './test-support/scheduler-fixture.js';
import { SeededRandom } from './test-support/seeded-random.js';

const VOCAB = 50;

/** Requests with shared prefixes and mixed lengths; EOS ids make some stop early. */
function workload(seed: number, numRequests: number): SubmitRequest[] {
  const random = new SeededRandom(seed);
  const shared = random.tokens(14, VOCAB);
  return Array.from({ length: numRequests }, (_, i) => ({
    requestId: `r${i}`,
    promptTokenIds: [...shared.slice(0, random.int(0, 14)), ...random.tokens(random.int(1, 10), VOCAB)],
    samplingParams: { maxTokens: random.int(4, 20) },
  }));
}

function run(requests: readonly SubmitRequest[], options: FixtureOptions) {
  const { scheduler, executor, config } = createFixture({ vocabSize: VOCAB, eosTokenIds: [7], maxModelLen: 48, ...options });
  for (const request of requests) expect(scheduler.submit(request)).toEqual({ accepted: true });
  const outputs = driveScheduler(scheduler, executor, {
    checkInvariants: true,
    maxNumSeqs: config.maxNumSeqs,
    maxNumBatchedTokens: config.maxNumBatchedTokens,
  });
  expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBe(0);
  expect(executor.heldRequestIds).toEqual([]);
  return { outputs, stats: scheduler.stats(), executor };
}

const tokensOf = (outputs: Map<string, CollectedOutput>) =>
  Object.fromEntries([...outputs].map(([id, o]) => [id, [o.finishReason, ...o.tokenIds]]));

describe('Scheduler: preemption by recompute', () => {
  const requests = workload(11, 12);
  const reference = run(requests, { numBlocks: 1024, maxNumBatchedTokens: 512, maxNumSeqs: 64 });

  it('the unconstrained reference never preempts', () => {
    expect(reference.stats.numPreemptionsTotal).toBe(0);
    expect(reference.outputs.size).toBe(12);
  });

  it.each([
    ['chunked, prefix cache', { enableChunkedPrefill: true, enablePrefixCaching: true, maxNumBatchedTokens: 16 }],
    ['chunked, no prefix cache', { enableChunkedPrefill: true, enablePrefixCaching: false, maxNumBatchedTokens: 16 }],
    ['whole prompts, prefix cache', { enableChunkedPrefill: false, enablePrefixCaching: true, maxNumBatchedTokens: 48 }],
    ['whole prompts, no prefix cache', { enableChunkedPrefill: false, enablePrefixCaching: false, maxNumBatchedTokens: 48 }],
  ])('with 12 blocks of 4 tokens (%s) every output equals the unconstrained run', (_name, options) => {
    const constrained = run(requests, { numBlocks: 12, maxNumSeqs: 8, ...options });
    expect(constrained.stats.numPreemptionsTotal).toBeGreaterThan(0);
    expect(tokensOf(constrained.outputs)).toEqual(tokensOf(reference.outputs));
  });

  it.each([1, 2, 3, 4, 5, 6])('random arrivals and aborts under memory pressure keep outputs exact (seed %i)', (seed) => {
    const random = new SeededRandom(seed * 101);
    const all = workload(seed, 40);
    const expected = tokensOf(run(all, { numBlocks: 2048, maxNumBatchedTokens: 1024, maxNumSeqs: 64 }).outputs);
    const { scheduler, executor, config } = createFixture({
      vocabSize: VOCAB,
      eosTokenIds: [7],
      maxModelLen: 48,
      numBlocks: 14,
      maxNumSeqs: 6,
      maxNumBatchedTokens: random.int(8, 24),
      enablePrefixCaching: seed % 2 === 0,
    });
    let next = 0;
    const aborted = new Set<string>();
    const outputs = driveScheduler(scheduler, executor, {
      checkInvariants: true,
      maxNumSeqs: config.maxNumSeqs,
      maxNumBatchedTokens: config.maxNumBatchedTokens,
      afterStep: () => {
        while (next < all.length && random.next() < 0.4) scheduler.submit(all[next++]);
        if (random.next() < 0.05 && next > 0) {
          const id = all[random.int(0, next - 1)].requestId;
          if (scheduler.abort(id)) aborted.add(id);
        }
      },
    }, new Map());
    // The loop ends only when idle; submit whatever never arrived and finish those too.
    while (next < all.length) scheduler.submit(all[next++]);
    driveScheduler(scheduler, executor, { checkInvariants: true }, outputs);
    expect(scheduler.stats().numPreemptionsTotal).toBeGreaterThan(0);
    for (const request of all) {
      if (aborted.has(request.requestId)) continue;
      expect([request.requestId, tokensOf(outputs)[request.requestId]]).toEqual([request.requestId, expected[request.requestId]]);
    }
    expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBe(0);
  });
});
