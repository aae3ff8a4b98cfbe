import { driveScheduler } from './test-support/drive-scheduler.js';
import { createFixture } from './test-support/scheduler-fixture.js';
import { SeededRandom } from './test-support/seeded-random.js';

describe('Scheduler: automatic prefix caching', () => {
  const random = new SeededRandom(7);
  const systemPrompt = random.tokens(256, 32000);
  const suffixes = Array.from({ length: 32 }, () => random.tokens(10, 32000));
  const MAX_TOKENS = 8;

  function runSystemPromptWorkload(enablePrefixCaching: boolean) {
    const { scheduler, executor } = createFixture({
      blockSize: 16,
      numBlocks: 1024,
      maxModelLen: 512,
      maxNumSeqs: 32,
      maxNumBatchedTokens: 2048,
      vocabSize: 32000,
      enablePrefixCaching,
    });
    for (let i = 0; i < 32; i++) {
      scheduler.submit({ requestId: `r${i}`, promptTokenIds: [...systemPrompt, ...suffixes[i]], samplingParams: { maxTokens: MAX_TOKENS } });
    }
    const outputs = driveScheduler(scheduler, executor, { checkInvariants: true });
    return { outputs, stats: scheduler.stats(), executor };
  }

  it('32 requests sharing a 256-token system prompt compute its 16 blocks once', () => {
    const { outputs, stats, executor } = runSystemPromptWorkload(true);
    // All 32 arrive together and are admitted in one step: each after the first hits the blocks
    // the first registered in that same step (the executor writes all KV before reading).
    const numDecodeTokens = 32 * (MAX_TOKENS - 1);
    expect(executor.numComputedTokensTotal).toBe(256 + 32 * 10 + numDecodeTokens);
    expect(stats.prefixCache.numQueryTokens).toBe(32 * 266);
    expect(stats.prefixCache.numHitTokens).toBe(31 * 256);
    expect(stats.prefixCache.hitRate).toBeCloseTo((31 * 256) / (32 * 266), 10);
    expect(outputs.get('r0')?.numCachedTokens).toBe(0);
    expect(outputs.get('r31')?.numCachedTokens).toBe(256);
    // After the run the system prompt's blocks (and the requests' own full blocks) stay cached.
    expect(stats.kvCache.numBlocksUsed).toBe(0);
    expect(stats.kvCache.numBlocksCached).toBe(16 + 32 * 1);
  });

  it('gives the same outputs with the cache off, computing the system prompt 32 times', () => {
    const cached = runSystemPromptWorkload(true);
    const uncached = runSystemPromptWorkload(false);
    expect(uncached.executor.numComputedTokensTotal).toBe(32 * 266 + 32 * (MAX_TOKENS - 1));
    expect(uncached.stats.prefixCache.numHitTokens).toBe(0);
    const tokens = (outputs: typeof cached.outputs) => Object.fromEntries([...outputs].map(([id, o]) => [id, o.tokenIds]));
    expect(tokens(uncached.outputs)).toEqual(tokens(cached.outputs));
  });

  it('hits a finished request’s prefix later, but not across cache salts', () => {
    const { scheduler, executor } = createFixture({ blockSize: 4, numBlocks: 64 });
    const prompt = Array.from({ length: 21 }, (_, i) => i + 1);
    const submitAndRun = (requestId: string, cacheSalt?: string) => {
      scheduler.submit({ requestId, promptTokenIds: prompt, samplingParams: { maxTokens: 3 }, cacheSalt });
      return driveScheduler(scheduler, executor).get(requestId)?.numCachedTokens;
    };
    expect(submitAndRun('first')).toBe(0);
    expect(submitAndRun('again')).toBe(20); // 5 full blocks; the 21st token is computed
    expect(submitAndRun('salted', 'tenant-b')).toBe(0);
    expect(submitAndRun('salted-again', 'tenant-b')).toBe(20);
    expect(submitAndRun('unsalted-again')).toBe(20);
  });

  it('recomputes the last block when the whole block-aligned prompt is cached', () => {
    const { scheduler, executor } = createFixture({ blockSize: 4, numBlocks: 64 });
    const prompt = Array.from({ length: 16 }, (_, i) => i + 1);
    scheduler.submit({ requestId: 'a', promptTokenIds: prompt, samplingParams: { maxTokens: 2 } });
    const first = driveScheduler(scheduler, executor).get('a');
    scheduler.submit({ requestId: 'b', promptTokenIds: prompt, samplingParams: { maxTokens: 2 } });
    const step = scheduler.schedule();
    expect(step.newRequests[0].numComputedTokens).toBe(12);
    expect(step.newRequests[0].numScheduledTokens).toBe(4);
    const [firstOutput] = scheduler.update(executor.execute(step)).outputs;
    expect(firstOutput.numCachedTokens).toBe(12);
    while (scheduler.hasWork()) scheduler.update(executor.execute(scheduler.schedule()));
    expect(first?.numCachedTokens).toBe(0);
    expect(scheduler.stats().prefixCache.numHitTokens).toBe(12);
  });
});
