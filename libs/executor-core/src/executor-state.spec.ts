import { ProtocolError, type NewRequestData, type SchedulerOutput } from '@deepinfer/contracts';
import { ExecutorState } from './executor-state.js';
import type { EngineSample, EngineSequence, StepEngine } from './step-engine.js';

/** Records each batch; samples (last token + 1) so outputs are predictable. */
class RecordingEngine implements StepEngine {
  readonly batches: EngineSequence[][] = [];
  async step(sequences: readonly EngineSequence[]): Promise<(EngineSample | undefined)[]> {
    this.batches.push([...sequences]);
    return sequences.map((s) => (s.sample ? { tokenId: s.tokenIds[s.tokenIds.length - 1]! + 1 } : undefined));
  }
}

const sampling = { minTokens: 0, minTokensBannedTokenIds: [2] };
const newRequest = (requestId: string, prompt: number[], blockIds: number[], numScheduledTokens = prompt.length, numComputedTokens = 0): NewRequestData => ({
  requestId, promptTokenIds: prompt, outputTokenIds: [], samplingParams: sampling, blockIds, numComputedTokens, numScheduledTokens,
});
const noCached = { requestIds: [], newBlockIds: [], numComputedTokens: [], numScheduledTokens: [] };
const step = (stepId: number, parts: Partial<SchedulerOutput>): SchedulerOutput => ({
  stepId, newRequests: [], cachedRequests: noCached, totalNumScheduledTokens: 0, finishedRequestIds: [], preemptedRequestIds: [], ...parts,
});

describe('ExecutorState', () => {
  it('prefills, then decodes the token it sampled, growing the block table', async () => {
    const engine = new RecordingEngine();
    const state = new ExecutorState(engine, 4, 100, 16);
    const r1 = await state.execute(step(1, { newRequests: [newRequest('a', [10, 11, 12, 13], [3])] }));
    expect(r1.sampled).toEqual([{ requestId: 'a', tokenId: 14 }]);
    expect(Array.from(engine.batches[0]![0]!.tokenIds)).toEqual([10, 11, 12, 13]);
    const r2 = await state.execute(step(2, { cachedRequests: { requestIds: ['a'], newBlockIds: [[7]], numComputedTokens: [4], numScheduledTokens: [1] } }));
    expect(r2.sampled).toEqual([{ requestId: 'a', tokenId: 15 }]);
    const decode = engine.batches[1]![0]!;
    expect([Array.from(decode.tokenIds), decode.startPos, Array.from(decode.blockTable)]).toEqual([[14], 4, [3, 7]]);
  });

  it('samples nothing in the middle of a chunked prefill', async () => {
    const engine = new RecordingEngine();
    const state = new ExecutorState(engine, 4, 100, 16);
    const r = await state.execute(step(1, { newRequests: [newRequest('a', [1, 2, 3, 4, 5, 6], [0, 1], 3)] }));
    expect(r.sampled).toEqual([]);
    const r2 = await state.execute(step(2, { cachedRequests: { requestIds: ['a'], newBlockIds: [[]], numComputedTokens: [3], numScheduledTokens: [3] } }));
    expect(r2.sampled).toEqual([{ requestId: 'a', tokenId: 7 }]);
    expect(engine.batches[1]![0]!.startPos).toBe(3);
  });

  it('refuses a malformed step whole and keeps its books unchanged', async () => {
    const engine = new RecordingEngine();
    const state = new ExecutorState(engine, 4, 100, 16);
    await state.execute(step(1, { newRequests: [newRequest('a', [1, 2], [0])] }));
    const bad = [
      step(2, { cachedRequests: { requestIds: ['a'], newBlockIds: [[]], numComputedTokens: [1], numScheduledTokens: [1] } }),
      step(2, { cachedRequests: { requestIds: ['zzz'], newBlockIds: [[]], numComputedTokens: [0], numScheduledTokens: [1] } }),
      step(2, { newRequests: [newRequest('b', [1, 2, 3, 4, 5], [1])] }),
      step(2, { newRequests: [newRequest('c', [1, 500], [2])] }),
      step(2, { newRequests: [newRequest('d', [1], [99])] }),
      step(2, { newRequests: [newRequest('a', [1], [2])] }),
    ];
    for (const s of bad) await expect(state.execute(s)).rejects.toBeInstanceOf(ProtocolError);
    expect(state.numRequests).toBe(1);
    const ok = await state.execute(step(2, { cachedRequests: { requestIds: ['a'], newBlockIds: [[]], numComputedTokens: [2], numScheduledTokens: [1] } }));
    expect(ok.sampled).toEqual([{ requestId: 'a', tokenId: 4 }]);
  });

  it('drops finished and preempted requests; a preempted one returns with its outputs', async () => {
    const engine = new RecordingEngine();
    const state = new ExecutorState(engine, 4, 100, 16);
    await state.execute(step(1, { newRequests: [newRequest('a', [1, 2], [0]), newRequest('b', [5], [1])] }));
    await state.execute(step(2, { finishedRequestIds: ['b'], preemptedRequestIds: ['a'], newRequests: [{ ...newRequest('a', [1, 2], [4], 3), outputTokenIds: [3] }] }));
    expect(state.numRequests).toBe(1);
    expect(Array.from(engine.batches[1]![0]!.tokenIds)).toEqual([1, 2, 3]);
  });

  it('bans EOS while below min_tokens, then allows it', async () => {
    const engine = new RecordingEngine();
    const state = new ExecutorState(engine, 4, 100, 16);
    await state.execute(step(1, { newRequests: [{ ...newRequest('a', [1], [0]), samplingParams: { minTokens: 1, minTokensBannedTokenIds: [2], logitBias: { '7': 1.5 } } }] }));
    const first = engine.batches[0]![0]!.sampling;
    expect([Array.from(first.logitBiasIds), Array.from(first.logitBiasValues)]).toEqual([[7, 2], [1.5, -Infinity]]);
    await state.execute(step(2, { cachedRequests: { requestIds: ['a'], newBlockIds: [[]], numComputedTokens: [1], numScheduledTokens: [1] } }));
    expect(Array.from(engine.batches[1]![0]!.sampling.logitBiasIds)).toEqual([7]);
  });
});
