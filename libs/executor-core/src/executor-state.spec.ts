import { ProtocolError, type NewRequestData, type SchedulerOutput } from '@deepinfer/contracts';
import { ExecutorState } from './executor-state.js';
import { GrammarRefusedError, maskedSampling, settledMasks, type EngineSample, type EngineSequence, type Guide, type GuideFactory, type StepEngine, type StepMasks } from './step-engine.js';

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

  it('runs a step sent ahead after the one before it, computing the token that step samples', async () => {
    // Asynchronous scheduling: step 2 arrives while step 1 runs, and names position 4, whose
    // token (the one step 1 samples) only the executor knows.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const engine = new RecordingEngine();
    const slow: StepEngine = { step: async (seqs) => (engine.batches.length === 0 ? await gate : undefined, engine.step(seqs)) };
    const state = new ExecutorState(slow, 4, 100, 16);
    const first = state.execute(step(1, { newRequests: [newRequest('a', [10, 11, 12, 13], [3])] }));
    const second = state.execute(step(2, { cachedRequests: { requestIds: ['a'], newBlockIds: [[7]], numComputedTokens: [4], numScheduledTokens: [1] } }));
    expect(state.speculate()).toBe(false); // the next step is already here
    release();
    expect((await first).sampled).toEqual([{ requestId: 'a', tokenId: 14 }]);
    expect((await second).sampled).toEqual([{ requestId: 'a', tokenId: 15 }]);
    expect(Array.from(engine.batches[1]![0]!.tokenIds)).toEqual([14]);
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

describe('ExecutorState decode ahead', () => {
  const greedy = { minTokens: 0, minTokensBannedTokenIds: [], temperature: 0 };
  const greedyRequest = (requestId: string, prompt: number[], blockIds: number[]): NewRequestData => ({ ...newRequest(requestId, prompt, blockIds), samplingParams: greedy });
  const decode = (stepId: number, ids: string[], computed: number[], newBlockIds: number[][] = ids.map(() => [])) =>
    step(stepId, { cachedRequests: { requestIds: ids, newBlockIds, numComputedTokens: computed, numScheduledTokens: ids.map(() => 1) } });

  it('answers the next decode step from the speculation, with the same tokens as without it', async () => {
    const plain = new ExecutorState(new RecordingEngine(), 4, 100, 16);
    const engine = new RecordingEngine();
    const ahead = new ExecutorState(engine, 4, 100, 16);
    const steps = [step(1, { newRequests: [greedyRequest('a', [10, 11], [3, 4]), greedyRequest('b', [20], [5, 6])] }), decode(2, ['a', 'b'], [2, 1]), decode(3, ['a', 'b'], [3, 2])];
    for (const s of steps) {
      const expected = await plain.execute(s);
      expect(await ahead.execute(s)).toMatchObject({ stepId: s.stepId, sampled: expected.sampled });
      ahead.speculate();
    }
    // Step 1 ran; steps 2 and 3 came from speculations (one engine batch each), and a fourth is ready.
    expect(ahead.speculationStats).toEqual({ used: 2, dropped: 0 });
    expect(engine.batches.length).toBe(4);
    expect(engine.batches[1]!.map((b) => [Array.from(b.tokenIds), b.startPos])).toEqual([[[12], 2], [[21], 1]]);
  });

  it('drops the speculation when the step differs, and runs the step as sent', async () => {
    const engine = new RecordingEngine();
    const state = new ExecutorState(engine, 4, 100, 16);
    await state.execute(step(1, { newRequests: [greedyRequest('a', [10, 11], [3]), greedyRequest('b', [20], [5])] }));
    expect(state.speculate()).toBe(true);
    const r = await state.execute(step(2, { finishedRequestIds: ['b'], cachedRequests: { requestIds: ['a'], newBlockIds: [[]], numComputedTokens: [2], numScheduledTokens: [1] } }));
    expect(r.sampled).toEqual([{ requestId: 'a', tokenId: 13 }]);
    expect(state.speculationStats).toEqual({ used: 0, dropped: 1 });
    expect(state.numRequests).toBe(1);
    // The books follow the step actually sent: a's next decode is at position 3.
    const r3 = await state.execute(decode(3, ['a'], [3]));
    expect(r3.sampled).toEqual([{ requestId: 'a', tokenId: 14 }]);
  });

  it('does not speculate when a block is needed, sampling is random and unseeded, or the batch is large', async () => {
    const atBoundary = new ExecutorState(new RecordingEngine(), 2, 100, 16);
    await atBoundary.execute(step(1, { newRequests: [greedyRequest('a', [10, 11], [3])] }));
    expect(atBoundary.speculate()).toBe(false); // position 2 needs a second block of 2
    const random = new ExecutorState(new RecordingEngine(), 4, 100, 16);
    await random.execute(step(1, { newRequests: [newRequest('a', [10, 11], [3])] }));
    expect(random.speculate()).toBe(false); // temperature defaults to 1 and no seed
    const seeded = new ExecutorState(new RecordingEngine(), 4, 100, 16);
    await seeded.execute(step(1, { newRequests: [{ ...newRequest('a', [10, 11], [3]), samplingParams: { ...sampling, temperature: 0.8, seed: 7 } }] }));
    expect(seeded.speculate()).toBe(true);
    const capped = new ExecutorState(new RecordingEngine(), 4, 100, 16, { maxDecodeAheadSequences: 1 });
    await capped.execute(step(1, { newRequests: [greedyRequest('a', [10], [3]), greedyRequest('b', [20], [5])] }));
    expect(capped.speculate()).toBe(false);
  });

  describe('guided decoding', () => {
    /** A guide allowing only "the last token + 2" (so the engine's +1 choice is always refused). */
    const makeFactory = (log: string[]): GuideFactory => async (spec, outputs) => {
      log.push(`make ${spec.kind} after [${outputs.join(',')}]`);
      let last = outputs.length > 0 ? outputs[outputs.length - 1]! : 20;
      const guide: Guide = {
        accept: (t) => {
          log.push(`accept ${t}`);
          last = t;
          return true;
        },
        nextMask: async () => {
          const mask = new Uint32Array(Math.ceil(100 / 32));
          mask[(last + 2) >>> 5]! |= 1 << ((last + 2) & 31);
          return mask;
        },
        dispose: () => log.push('dispose'),
      };
      return guide;
    };
    /**
     * Samples the lowest allowed id when a mask is given, else last + 1. Like a real engine, it
     * "runs the forward pass" first (records the batch, yields) and waits for the masks after.
     */
    class MaskedEngine implements StepEngine {
      readonly masks: (Uint32Array | undefined)[] = [];
      /** Per step: whether the masks were already there when the forward pass ended. */
      readonly masksReadyAfterForward: boolean[] = [];
      async step(sequences: readonly EngineSequence[], supply?: StepMasks): Promise<(EngineSample | undefined)[]> {
        let ready = false;
        void supply?.masks.then(() => (ready = true));
        await Promise.resolve(); // the forward pass
        this.masksReadyAfterForward.push(ready);
        const rows = await settledMasks(supply, sequences.length);
        if (supply) supply.waitedMs = 0;
        return sequences.map((seq, i) => {
          if (!seq.sample) return undefined;
          const s = maskedSampling(seq, rows[i]);
          if (!s) return undefined;
          const m = s.allowedTokenMask;
          this.masks.push(m);
          if (!m) return { tokenId: seq.tokenIds[seq.tokenIds.length - 1]! + 1 };
          for (let t = 0; t < m.length * 32; t++) if ((m[t >>> 5]! >>> (t & 31)) & 1) return { tokenId: t };
          throw new Error('empty mask');
        });
      }
    }
    const guided = (id: string, prompt: number[], blocks: number[], outputs: number[] = []): NewRequestData => ({
      ...newRequest(id, [...prompt, ...outputs], blocks),
      promptTokenIds: prompt,
      outputTokenIds: outputs,
      samplingParams: { ...sampling, temperature: 0, guided: { kind: 'regex', pattern: 'x' } },
    });

    it('masks every sampled token with the guide, which follows the outputs (decode ahead included)', async () => {
      const log: string[] = [];
      const engine = new MaskedEngine();
      const state = new ExecutorState(engine, 4, 100, 16, { guideFactory: makeFactory(log) });
      const r1 = await state.execute(step(1, { newRequests: [guided('g', [10, 11], [0])] }));
      expect(r1.sampled).toEqual([{ requestId: 'g', tokenId: 22 }]);
      expect(state.speculate()).toBe(true); // greedy: decode ahead, masked by the guide too
      const r2 = await state.execute(step(2, { cachedRequests: { requestIds: ['g'], newBlockIds: [[]], numComputedTokens: [2], numScheduledTokens: [1] } }));
      expect(r2.sampled).toEqual([{ requestId: 'g', tokenId: 24 }]);
      expect(state.speculationStats.used).toBe(1);
      await state.execute(step(3, { finishedRequestIds: ['g'] }));
      expect(log).toEqual(['make regex after []', 'accept 22', 'accept 24', 'dispose']);
      expect(engine.masks.every((m) => m !== undefined)).toBe(true);
      // The forward pass started before the masks were computed (they overlap).
      expect(engine.masksReadyAfterForward).toEqual([false, false]);
    });

    it('reports the mask time per token and the engine\'s wait for the masks', async () => {
      const stats: { maskMs: readonly number[]; waitedMs: number | undefined }[] = [];
      const timed: GuideFactory = async (spec, outputs) => Object.assign(await makeFactory([])(spec, outputs), { lastMaskMs: 0.25 });
      const state = new ExecutorState(new MaskedEngine(), 4, 100, 16, { guideFactory: timed, onGuidedStep: (s) => stats.push(s) });
      await state.execute(step(1, { newRequests: [guided('g', [10, 11], [0]), newRequest('free', [5], [1])] }));
      expect(stats).toEqual([{ maskMs: [0.25], waitedMs: 0 }]);
    });

    it('a guide whose mask fails: its request samples nothing, the others sample, the engine is released', async () => {
      const failing: GuideFactory = async (spec, outputs) => ({ ...(await makeFactory([])(spec, outputs)), nextMask: async () => { throw new Error('matcher broke'); } });
      const engine = new MaskedEngine();
      const state = new ExecutorState(engine, 4, 100, 16, { guideFactory: failing });
      const r = await state.execute(step(1, { newRequests: [guided('g', [10, 11], [0]), newRequest('free', [5], [1])] }));
      expect(r.sampled).toEqual([{ requestId: 'free', tokenId: 6 }]);
      // No sample for 'g': the scheduler ends it with finish reason `error`.
      expect((await state.execute(step(2, { finishedRequestIds: ['g'] }))).sampled).toEqual([]);
    });

    it('an engine that fails while the masks are computed fails the step, and the next step runs', async () => {
      let fail = true;
      const inner = new MaskedEngine();
      const flaky: StepEngine = { step: async (seqs, supply) => { if (fail) { fail = false; throw new Error('device lost'); } return inner.step(seqs, supply); } };
      const state = new ExecutorState(flaky, 4, 100, 16, { guideFactory: makeFactory([]) });
      await expect(state.execute(step(1, { newRequests: [guided('g', [10, 11], [0])] }))).rejects.toThrow('device lost');
      const r = await state.execute(step(2, { newRequests: [guided('h', [10, 11], [2])] }));
      expect(r.sampled).toEqual([{ requestId: 'h', tokenId: 22 }]);
    });

    it('an engine never samples a guided sequence without its mask', async () => {
      const seq: EngineSequence = { tokenIds: Int32Array.of(1), startPos: 0, blockTable: Int32Array.of(0), sample: true, guided: true, sampling: { temperature: 0, topK: 0, topP: 1, minP: 0, presencePenalty: 0, frequencyPenalty: 0, repetitionPenalty: 1, logitBiasIds: new Int32Array(0), logitBiasValues: new Float32Array(0), numLogprobs: -1 }, promptIds: Int32Array.of(1), outputIds: new Int32Array(0) };
      expect(maskedSampling(seq, undefined)).toBeUndefined();
      expect(maskedSampling(seq, 'refuse')).toBeUndefined();
      expect(maskedSampling(seq, Uint32Array.of(4))?.allowedTokenMask).toEqual(Uint32Array.of(4));
      expect(maskedSampling({ ...seq, guided: false }, undefined)).toBe(seq.sampling);
      expect(await settledMasks({ masks: Promise.reject(new Error('x')) }, 2)).toEqual([undefined, undefined]);
    });

    it('a resumed request gets a guide advanced over its outputs; without a factory it samples nothing', async () => {
      const log: string[] = [];
      const state = new ExecutorState(new MaskedEngine(), 4, 100, 16, { guideFactory: makeFactory(log) });
      const r = await state.execute(step(1, { newRequests: [guided('g', [10, 11], [0], [22, 24])] }));
      expect(r.sampled).toEqual([{ requestId: 'g', tokenId: 26 }]);
      expect(log[0]).toBe('make regex after [22,24]');
      const bare = new ExecutorState(new MaskedEngine(), 4, 100, 16);
      expect((await bare.execute(step(1, { newRequests: [guided('h', [10, 11], [0])] }))).sampled).toEqual([]);
    });

    it('prepareGuide compiles off the step queue (a step in flight does not hold it up); a refused grammar is bad_request naming why, other failures internal', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const slow: StepEngine = { step: async (sequences) => (await gate, sequences.map((q) => (q.sample ? { tokenId: 1 } : undefined))) };
      const prepared: string[] = [];
      const state = new ExecutorState(slow, 4, 100, 16, {
        guideFactory: makeFactory([]),
        guidePreparer: async (spec) => {
          if (spec.kind === 'regex' && spec.pattern === '(') throw new GrammarRefusedError('unbalanced parenthesis');
          if (spec.kind === 'regex' && spec.pattern === 'x') throw new Error('the guide worker exited with code 1');
          prepared.push(spec.kind);
        },
      });
      const running = state.execute(step(1, { newRequests: [newRequest('a', [10, 11], [0])] }));
      await state.prepareGuide({ kind: 'json_object' });
      expect(prepared).toEqual(['json_object']);
      const refused = await state.prepareGuide({ kind: 'regex', pattern: '(' }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ProtocolError);
      expect(refused).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/cannot be compiled: unbalanced parenthesis/) });
      // Not the grammar's fault: the scheduler lets the request run (its step builds the guide).
      await expect(state.prepareGuide({ kind: 'regex', pattern: 'x' })).rejects.toMatchObject({ code: 'internal', message: 'guided decoding failed on this executor: the guide worker exited with code 1' });
      release();
      await running;
      const bare = new ExecutorState(new MaskedEngine(), 4, 100, 16);
      await expect(bare.prepareGuide({ kind: 'json_object' })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/not available/) });
    });
  });
});
