import type { SubmitRequest } from './submit-request.js';
import { collectOutputs, driveScheduler, driveSchedulerAsync, type CollectedOutput } from './test-support/drive-scheduler.js';
import { createFixture, type FixtureOptions } from './test-support/scheduler-fixture.js';
import { SeededRandom } from './test-support/seeded-random.js';

const VOCAB = 50;
const EOS = 7;

/** Shared prefixes, mixed prompt and output lengths, min_tokens on some; EOS stops many early. */
function workload(seed: number, numRequests: number): SubmitRequest[] {
  const random = new SeededRandom(seed);
  const shared = random.tokens(14, VOCAB);
  return Array.from({ length: numRequests }, (_, i) => {
    const maxTokens = random.int(1, 20);
    return {
      requestId: `r${i}`,
      promptTokenIds: [...shared.slice(0, random.int(0, 14)), ...random.tokens(random.int(1, 10), VOCAB)],
      samplingParams: { maxTokens, ...(i % 5 === 0 ? { minTokens: random.int(1, Math.min(4, maxTokens)) } : {}) },
    };
  });
}

const tokensOf = (outputs: Map<string, CollectedOutput>) =>
  Object.fromEntries([...outputs].map(([id, o]) => [id, [o.finishReason, o.stopTokenId, ...o.tokenIds]]));

function run(requests: readonly SubmitRequest[], options: FixtureOptions, asynchronous: boolean) {
  const { scheduler, executor, config } = createFixture({ vocabSize: VOCAB, eosTokenIds: [EOS], maxModelLen: 48, ...options });
  for (const request of requests) expect(scheduler.submit(request)).toEqual({ accepted: true });
  const stats = { numAheadSteps: 0, numSteps: 0 };
  const drive = { checkInvariants: true, maxNumSeqs: config.maxNumSeqs, maxNumBatchedTokens: config.maxNumBatchedTokens };
  const outputs = asynchronous ? driveSchedulerAsync(scheduler, executor, drive, new Map(), stats) : driveScheduler(scheduler, executor, drive);
  // Nothing leaks: every block free or cached, every request dropped by the executor.
  expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBe(0);
  expect(executor.heldRequestIds).toEqual([]);
  return { outputs, stats, scheduler };
}

describe('Scheduler: asynchronous scheduling (a step scheduled ahead while one is in flight)', () => {
  it.each([
    ['chunked, prefix cache', { maxNumBatchedTokens: 16 }],
    ['whole prompts, no prefix cache', { enableChunkedPrefill: false, enablePrefixCaching: false, maxNumBatchedTokens: 48 }],
    ['many sequences, big budget', { maxNumBatchedTokens: 512, maxNumSeqs: 64 }],
  ])('gives every request exactly the tokens and finish of synchronous scheduling (%s)', (_name, options) => {
    const requests = workload(5, 40);
    const sync = run(requests, { numBlocks: 1024, ...options }, false);
    const asynchronous = run(requests, { numBlocks: 1024, ...options }, true);
    expect(tokensOf(asynchronous.outputs)).toEqual(tokensOf(sync.outputs));
    // Most steps really went ahead (otherwise this would test nothing).
    expect(asynchronous.stats.numAheadSteps).toBeGreaterThan(asynchronous.stats.numSteps / 2);
    // EOS stops were seen, and their wasted ahead positions did not leak into outputs.
    expect(Object.values(tokensOf(sync.outputs)).filter((o) => o[0] === 'stop').length).toBeGreaterThan(3);
  });

  it('keeps outputs exact under KV pressure: ahead steps never preempt, synchronous ones do', () => {
    const requests = workload(9, 24);
    const reference = run(requests, { numBlocks: 1024, maxNumBatchedTokens: 512, maxNumSeqs: 64 }, false);
    const pressed = run(requests, { numBlocks: 14, maxNumSeqs: 8, maxNumBatchedTokens: 16 }, true);
    expect(pressed.scheduler.stats().numPreemptionsTotal).toBeGreaterThan(0);
    expect(pressed.stats.numAheadSteps).toBeGreaterThan(0);
    expect(tokensOf(pressed.outputs)).toEqual(tokensOf(reference.outputs));
  });

  it.each([1, 2, 3, 4])('random arrivals and aborts while two steps are in flight keep outputs exact (seed %i)', (seed) => {
    const random = new SeededRandom(seed * 7919);
    const all = workload(seed + 100, 40);
    const expected = tokensOf(run(all, { numBlocks: 2048, maxNumBatchedTokens: 1024, maxNumSeqs: 64 }, false).outputs);
    const { scheduler, executor, config } = createFixture({
      vocabSize: VOCAB,
      eosTokenIds: [EOS],
      maxModelLen: 48,
      numBlocks: 16,
      maxNumSeqs: 6,
      maxNumBatchedTokens: random.int(8, 24),
      enablePrefixCaching: seed % 2 === 0,
    });
    let next = 0;
    while (next < 4) scheduler.submit(all[next++]!);
    const aborted = new Set<string>();
    const stats = { numAheadSteps: 0, numSteps: 0 };
    const outputs = new Map<string, CollectedOutput>();
    driveSchedulerAsync(
      scheduler,
      executor,
      {
        checkInvariants: true,
        maxNumSeqs: config.maxNumSeqs,
        maxNumBatchedTokens: config.maxNumBatchedTokens,
        afterStep: () => {
          while (next < all.length && random.next() < 0.4) scheduler.submit(all[next++]!);
          if (random.next() < 0.08 && next > 0) {
            const id = all[random.int(0, next - 1)]!.requestId;
            const final = scheduler.abort(id);
            if (final) {
              aborted.add(id);
              // Recorded like a step's output: any later output for it (a dropped ahead token leaking) throws.
              collectOutputs({ stepId: 0, outputs: [final] }, outputs);
            }
          }
        },
      },
      outputs,
      stats,
    );
    while (next < all.length) scheduler.submit(all[next++]!);
    driveSchedulerAsync(scheduler, executor, { checkInvariants: true }, outputs, stats);
    expect(stats.numAheadSteps).toBeGreaterThan(0);
    expect(aborted.size).toBeGreaterThan(0);
    for (const request of all) {
      if (aborted.has(request.requestId)) {
        expect(outputs.get(request.requestId)?.finishReason).toBe('abort');
        continue;
      }
      expect([request.requestId, tokensOf(outputs)[request.requestId]]).toEqual([request.requestId, expected[request.requestId]]);
    }
    expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBe(0);
    expect(executor.heldRequestIds).toEqual([]);
  });

  it.each([false, true])('caches the blocks holding generated tokens like synchronous scheduling: a follow-up turn hits them (async %s)', (asynchronous) => {
    const { scheduler, executor } = createFixture({ vocabSize: VOCAB, blockSize: 4 });
    const drive = asynchronous ? driveSchedulerAsync : driveScheduler;
    const prompt = [3, 1, 4, 1, 5, 9];
    scheduler.submit({ requestId: 'turn1', promptTokenIds: prompt, samplingParams: { maxTokens: 13 } });
    const first = drive(scheduler, executor, { checkInvariants: true }).get('turn1')!;
    expect(first.tokenIds).toHaveLength(13);
    // The next turn repeats the conversation: 6 + 13 = 19 tokens, of which the first 18 are
    // complete blocks holding the previous answer's tokens (the last one's KV is never written).
    scheduler.submit({ requestId: 'turn2', promptTokenIds: [...prompt, ...first.tokenIds, 2, 6], samplingParams: { maxTokens: 1 } });
    const second = drive(scheduler, executor, { checkInvariants: true }).get('turn2')!;
    expect(second.numCachedTokens).toBe(16);
  });

  it('leaves out a request whose last allowed token the step in flight samples', () => {
    const { scheduler } = createFixture({ vocabSize: VOCAB });
    scheduler.submit({ requestId: 'a', promptTokenIds: [1, 2, 3], samplingParams: { maxTokens: 1 } });
    scheduler.submit({ requestId: 'b', promptTokenIds: [4, 5, 6], samplingParams: { maxTokens: 5 } });
    const first = scheduler.schedule();
    expect(first.newRequests.map((r) => r.requestId)).toEqual(['a', 'b']);
    const ahead = scheduler.scheduleAhead()!;
    // b continues at position 3 (the token the first step samples); a is done after one token.
    expect(ahead.cachedRequests.requestIds).toEqual(['b']);
    expect(ahead.cachedRequests.numComputedTokens).toEqual([3]);
    expect(ahead.cachedRequests.numScheduledTokens).toEqual([1]);
    expect(() => scheduler.scheduleAhead()).toThrow(/exactly one step in flight/);
    expect(() => scheduler.schedule()).toThrow(/still in flight/);
  });

  it('fails the step sent ahead when the step before it fails (it may rest on that KV)', () => {
    const { scheduler } = createFixture({ vocabSize: VOCAB });
    scheduler.submit({ requestId: 'a', promptTokenIds: [1, 2, 3], samplingParams: { maxTokens: 4 } });
    const first = scheduler.schedule();
    const ahead = scheduler.scheduleAhead()!;
    const failed = scheduler.update({ stepId: first.stepId, sampled: [], error: 'device lost' });
    expect(failed.outputs).toMatchObject([{ requestId: 'a', finishReason: 'error', error: 'the engine failed a step: device lost' }]);
    // Its blocks stay held until the step sent ahead is answered, then everything is free.
    expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBeGreaterThan(0);
    expect(scheduler.update({ stepId: ahead.stepId, sampled: [{ requestId: 'a', tokenId: 9 }] }).outputs).toEqual([]);
    expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBe(0);
    expect(scheduler.isStepInFlight).toBe(false);
  });
});
