import type { RequestSamplingParams } from './sampling-params.js';
import { driveScheduler } from './test-support/drive-scheduler.js';
import { createFixture, type FixtureOptions } from './test-support/scheduler-fixture.js';

const prompt = [11, 12, 13, 14, 15, 16];

/** Runs one request whose model output is scripted by `script(numOutputTokens)` where defined. */
function runOne(samplingParams: RequestSamplingParams, script: (n: number) => number | undefined, options: FixtureOptions = {}) {
  const { scheduler, executor } = createFixture({ eosTokenIds: [5, 6], vocabSize: 100, sampleOverride: (_id, n) => script(n), ...options });
  expect(scheduler.submit({ requestId: 'r', promptTokenIds: prompt, samplingParams })).toEqual({ accepted: true });
  const output = driveScheduler(scheduler, executor).get('r');
  expect(scheduler.kvCacheManager.pool.numUsedBlocks).toBe(0);
  return output;
}

describe('Scheduler: finishing rules', () => {
  it('stops on any EOS id, including the token in the output', () => {
    const output = runOne({ maxTokens: 10 }, (n) => (n === 3 ? 6 : 20 + n));
    expect(output).toMatchObject({ tokenIds: [20, 21, 22, 6], finishReason: 'stop', stopTokenId: 6 });
  });

  it('ignores EOS with ignoreEos and runs to maxTokens', () => {
    const output = runOne({ maxTokens: 6, ignoreEos: true }, (n) => (n === 3 ? 6 : 20 + n));
    expect(output).toMatchObject({ tokenIds: [20, 21, 22, 6, 24, 25], finishReason: 'length', stopTokenId: undefined });
  });

  it('stops on a stop token id, even with ignoreEos', () => {
    const output = runOne({ maxTokens: 10, ignoreEos: true, stopTokenIds: [42] }, (n) => (n === 2 ? 42 : 5));
    expect(output).toMatchObject({ tokenIds: [5, 5, 42], finishReason: 'stop', stopTokenId: 42 });
  });

  it('finishes with length at exactly maxTokens', () => {
    expect(runOne({ maxTokens: 4 }, (n) => 30 + n)).toMatchObject({ tokenIds: [30, 31, 32, 33], finishReason: 'length' });
  });

  it('masks EOS and stop ids until minTokens: the executor is told, and the scheduler enforces it too', () => {
    const { scheduler, executor } = createFixture({ eosTokenIds: [5, 6], vocabSize: 100, sampleOverride: () => 5 });
    scheduler.submit({ requestId: 'r', promptTokenIds: prompt, samplingParams: { maxTokens: 10, minTokens: 3, stopTokenIds: [9] } });
    const step = scheduler.schedule();
    expect(step.newRequests[0].samplingParams).toMatchObject({ minTokens: 3 });
    expect([...step.newRequests[0].samplingParams.minTokensBannedTokenIds].sort()).toEqual([5, 6, 9]);
    const tokenIds = [...scheduler.update(executor.execute(step)).outputs[0].newTokenIds];
    while (scheduler.hasWork()) {
      for (const output of scheduler.update(executor.execute(scheduler.schedule())).outputs) tokenIds.push(...output.newTokenIds);
    }
    // While fewer than 3 outputs exist the fake sampler moves a banned 5 to the next allowed id, 7 (6 is banned too).
    expect(tokenIds).toEqual([7, 7, 7, 5]);
    // A disobedient executor: EOS before minTokens is kept as a plain token.
    const other = createFixture({ eosTokenIds: [5] });
    other.scheduler.submit({ requestId: 'x', promptTokenIds: prompt, samplingParams: { maxTokens: 10, minTokens: 2 } });
    const outputs: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const s = other.scheduler.schedule();
      const result = other.scheduler.update({ stepId: s.stepId, sampled: [{ requestId: 'x', tokenId: 5 }] });
      outputs.push(result.outputs[0].finishReason);
    }
    expect(outputs).toEqual([undefined, undefined, 'stop']); // 3rd output: 2 existed before it
  });

  it('runs the masked tokens through the fake sampler as the real one would', () => {
    const output = runOne({ maxTokens: 10, minTokens: 3 }, () => 5);
    expect(output).toMatchObject({ tokenIds: [7, 7, 7, 5], finishReason: 'stop', stopTokenId: 5 });
  });

  it('finishes with length at the model context length, and refuses prompts that leave no room', () => {
    const output = runOne({ maxTokens: 100 }, (n) => 40 + n, { maxModelLen: 10, maxNumBatchedTokens: 10 });
    expect(output).toMatchObject({ tokenIds: [40, 41, 42, 43], finishReason: 'length' });
    const { scheduler } = createFixture({ maxModelLen: 10 });
    expect(scheduler.submit({ requestId: 'long', promptTokenIds: new Array(10).fill(1), samplingParams: { maxTokens: 1 } })).toMatchObject({
      accepted: false,
      reason: 'prompt-too-long',
    });
    expect(scheduler.submit({ requestId: 'fits', promptTokenIds: new Array(9).fill(1), samplingParams: { maxTokens: 5 } })).toEqual({ accepted: true });
  });

  it('passes logprobs through when asked', () => {
    const output = runOne({ maxTokens: 3, logprobs: 2 }, () => undefined);
    expect(output?.numLogprobs).toBe(3);
    expect(runOne({ maxTokens: 3 }, () => undefined)?.numLogprobs).toBe(0);
  });

  it('refuses invalid, duplicate and over-quota submissions with a reason', () => {
    const { scheduler } = createFixture({ maxNumWaitingRequests: 2 });
    const submit = (requestId: string, promptTokenIds: number[], samplingParams: RequestSamplingParams) =>
      scheduler.submit({ requestId, promptTokenIds, samplingParams });
    expect(submit('a', [], { maxTokens: 1 })).toMatchObject({ accepted: false, reason: 'invalid' });
    expect(submit('a', [1, -2], { maxTokens: 1 })).toMatchObject({ accepted: false, reason: 'invalid' });
    expect(submit('a', [1], { maxTokens: 0 })).toMatchObject({ accepted: false, reason: 'invalid' });
    expect(submit('a', [1], { maxTokens: 2, minTokens: 3 })).toMatchObject({ accepted: false, reason: 'invalid' });
    expect(submit('a', [1], { maxTokens: 2 })).toEqual({ accepted: true });
    expect(submit('a', [1], { maxTokens: 2 })).toMatchObject({ accepted: false, reason: 'duplicate-id' });
    expect(submit('b', [1], { maxTokens: 2 })).toEqual({ accepted: true });
    expect(submit('c', [1], { maxTokens: 2 })).toMatchObject({ accepted: false, reason: 'queue-full' });
  });

  // The engine refuses a step holding an id outside its logits, failing every request in it; a
  // client's logit_bias {"200000": 100} on a 128k-vocabulary model once took the executor down.
  it('refuses prompt, logit_bias and stop token ids outside the model vocabulary, before they are queued', () => {
    const { scheduler } = createFixture({ vocabSize: 100 });
    const submit = (requestId: string, promptTokenIds: number[], samplingParams: RequestSamplingParams) =>
      scheduler.submit({ requestId, promptTokenIds, samplingParams });
    const refused = { accepted: false, reason: 'invalid' };
    expect(submit('a', [1, 100], { maxTokens: 1 })).toMatchObject({ ...refused, message: 'prompt token 100 is not a token id of this model (vocabulary size 100)' });
    expect(submit('a', [1], { maxTokens: 1, logitBias: { '100': 5 } })).toMatchObject({ ...refused, message: 'logit_bias token 100 is not a token id of this model (vocabulary size 100)' });
    for (const key of ['-1', '1.5', '', ' 7', '0x10']) expect(submit('a', [1], { maxTokens: 1, logitBias: { [key]: 5 } })).toMatchObject(refused);
    expect(submit('a', [1], { maxTokens: 1, stopTokenIds: [3, 100] })).toMatchObject({ ...refused, message: 'stop token 100 is not a token id of this model (vocabulary size 100)' });
    expect(scheduler.numWaitingRequests).toBe(0);
    // The last id of the vocabulary is fine everywhere.
    expect(submit('b', [99], { maxTokens: 1, logitBias: { '99': 5, '0': -5 }, stopTokenIds: [99], minTokens: 1 })).toEqual({ accepted: true });
    expect(scheduler.schedule().newRequests[0]).toMatchObject({ requestId: 'b', samplingParams: { logitBias: { '99': 5, '0': -5 }, minTokensBannedTokenIds: [99] } });
  });

  it('refuses a configuration whose eos ids are outside the vocabulary', () => {
    expect(() => createFixture({ vocabSize: 100, eosTokenIds: [99] })).not.toThrow();
    expect(() => createFixture({ vocabSize: 100, eosTokenIds: [100] })).toThrow(/eosTokenIds holds 100, not a token id of a 100-token vocabulary/);
  });
});
