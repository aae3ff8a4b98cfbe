import type { SchedulerOutput } from '@deepinfer/contracts';
import { checkKvInvariants } from './test-support/check-kv-invariants.js';
import { collectOutputs, driveScheduler, type CollectedOutput } from './test-support/drive-scheduler.js';
import { createFixture } from './test-support/scheduler-fixture.js';

const range = (start: number, end: number) => Array.from({ length: end - start }, (_, i) => start + i);

/** [requestId, numComputedTokens, numScheduledTokens, 'new' | 'cached'] per request of a step. */
function composition(step: SchedulerOutput): [string, number, number, string][] {
  const rows: [string, number, number, string][] = step.newRequests.map((r) => [r.requestId, r.numComputedTokens, r.numScheduledTokens, 'new']);
  step.cachedRequests.requestIds.forEach((id, i) =>
    rows.push([id, step.cachedRequests.numComputedTokens[i], step.cachedRequests.numScheduledTokens[i], 'cached']),
  );
  return rows;
}

describe('Scheduler: continuous batching', () => {
  it('interleaves a chunked prefill with a running decode, step by step', () => {
    const { scheduler, executor } = createFixture({ maxNumBatchedTokens: 8, enablePrefixCaching: false });
    scheduler.submit({ requestId: 'a', promptTokenIds: range(1, 4), samplingParams: { maxTokens: 5 } });
    const steps: SchedulerOutput[] = [];
    const run = () => {
      const step = scheduler.schedule();
      steps.push(step);
      return scheduler.update(executor.execute(step));
    };
    expect(run().outputs.map((o) => o.requestId)).toEqual(['a']);
    scheduler.submit({ requestId: 'b', promptTokenIds: range(10, 23), samplingParams: { maxTokens: 2 } }); // 13 tokens
    expect(run().outputs.map((o) => o.requestId)).toEqual(['a']); // b is mid-prefill: no token
    expect(run().outputs.map((o) => o.requestId)).toEqual(['a', 'b']);
    run();
    run();
    expect(steps.map(composition)).toEqual([
      [['a', 0, 3, 'new']],
      [['b', 0, 7, 'new'], ['a', 3, 1, 'cached']], // budget 8: a's decode first, b's first chunk in the rest
      [['a', 4, 1, 'cached'], ['b', 7, 6, 'cached']], // b's last chunk: it samples
      [['a', 5, 1, 'cached'], ['b', 13, 1, 'cached']],
      [['a', 6, 1, 'cached']], // b finished (maxTokens 2) and left
    ]);
    expect(steps.map((s) => s.stepId)).toEqual([1, 2, 3, 4, 5]);
    expect(steps[0].newRequests[0].blockIds).toEqual([0]);
    expect(steps[1].newRequests[0].blockIds).toEqual([1, 2]); // 7 tokens
    expect(steps[1].cachedRequests.newBlockIds).toEqual([[]]);
    expect(steps[2].cachedRequests.newBlockIds).toEqual([[3], [4, 5]]); // a reaches 5 tokens, b 13
    expect(steps[4].finishedRequestIds).toEqual(['b']);
    // a finished in step 5 too (maxTokens 5); only its id is left to tell the executor.
    expect(scheduler.numRunningRequests + scheduler.numWaitingRequests).toBe(0);
    expect(scheduler.hasWork()).toBe(true);
    const last = scheduler.schedule();
    expect(last.finishedRequestIds).toEqual(['a']);
    scheduler.update(executor.execute(last));
    expect(executor.heldRequestIds).toEqual([]);
    expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBe(0);
  });

  it('without chunked prefill, schedules a prompt only whole and keeps arrival order', () => {
    const { scheduler, executor } = createFixture({ maxNumBatchedTokens: 16, maxModelLen: 16, enableChunkedPrefill: false, enablePrefixCaching: false });
    scheduler.submit({ requestId: 'a', promptTokenIds: range(0, 10), samplingParams: { maxTokens: 3 } });
    scheduler.submit({ requestId: 'b', promptTokenIds: range(0, 7), samplingParams: { maxTokens: 3 } });
    scheduler.submit({ requestId: 'c', promptTokenIds: range(0, 2), samplingParams: { maxTokens: 3 } });
    const collected = new Map<string, CollectedOutput>();
    const step1 = scheduler.schedule();
    // b (7) does not fit beside a (10) and c may not overtake it.
    expect(composition(step1)).toEqual([['a', 0, 10, 'new']]);
    collectOutputs(scheduler.update(executor.execute(step1)), collected);
    const step2 = scheduler.schedule();
    expect(composition(step2)).toEqual([['b', 0, 7, 'new'], ['c', 0, 2, 'new'], ['a', 10, 1, 'cached']]);
    collectOutputs(scheduler.update(executor.execute(step2)), collected);
    const step3 = scheduler.schedule();
    expect(composition(step3)).toEqual([['a', 11, 1, 'cached'], ['b', 7, 1, 'cached'], ['c', 2, 1, 'cached']]);
    collectOutputs(scheduler.update(executor.execute(step3)), collected);
    driveScheduler(scheduler, executor, {}, collected);
    expect([...collected.values()].map((o) => [o.tokenIds.length, o.finishReason])).toEqual([[3, 'length'], [3, 'length'], [3, 'length']]);
  });

  it('never exceeds maxNumSeqs or the token budget, and ends with every block free', () => {
    const { scheduler, executor } = createFixture({ maxNumBatchedTokens: 40, maxNumSeqs: 5, numBlocks: 64, maxModelLen: 100 });
    for (let i = 0; i < 30; i++) {
      scheduler.submit({ requestId: `r${i}`, promptTokenIds: range(i, i + 3 + ((i * 7) % 50)), samplingParams: { maxTokens: 4 + (i % 9) } });
    }
    let maxSeqs = 0;
    let maxTokens = 0;
    const outputs = driveScheduler(scheduler, executor, {
      maxNumSeqs: 5,
      maxNumBatchedTokens: 40,
      checkInvariants: true,
      afterStep: (step) => {
        maxSeqs = Math.max(maxSeqs, step.newRequests.length + step.cachedRequests.requestIds.length);
        maxTokens = Math.max(maxTokens, step.totalNumScheduledTokens);
      },
    });
    expect(maxSeqs).toBe(5);
    expect(maxTokens).toBe(40);
    expect(outputs.size).toBe(30);
    for (const [id, output] of outputs) expect([id, output.finishReason, output.tokenIds.length]).toEqual([id, 'length', 4 + (Number(id.slice(1)) % 9)]);
    expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBe(0);
    const stats = scheduler.stats();
    expect(stats.batchSizeHistogram.count).toBe(stats.numStepsTotal);
    expect(stats.numTokensPerStepHistogram.sum).toBe(executor.numComputedTokensTotal);
  });

  it('refuses a second schedule() while a step is in flight, and a result for another step', () => {
    const { scheduler, executor } = createFixture();
    scheduler.submit({ requestId: 'a', promptTokenIds: [1, 2, 3], samplingParams: { maxTokens: 2 } });
    const step = scheduler.schedule();
    expect(() => scheduler.schedule()).toThrow(/in flight/);
    expect(() => scheduler.update({ stepId: step.stepId + 1, sampled: [] })).toThrow(/step/);
    scheduler.update(executor.execute(step));
    checkKvInvariants(scheduler.kvCacheManager);
  });
});
