import type { GuidedDecoding, SchedulerOutput, StepOutputsMessage, StepResult, SubmitMessage } from '@deepinfer/contracts';
import { FakeExecutor } from '../stand-in/fake-executor.js';
import { TEST_VOCAB as VOCAB, testRegistration } from '../test-support/executor-registration.js';
import { EngineLoop } from './engine-loop.js';
import type { EngineLoopPorts, GuidePreparation } from './engine-loop-ports.js';

const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
const registration = (epoch = 'e1') => testRegistration({ epoch });
const schema: GuidedDecoding = { kind: 'json_schema', schema: '{"type":"string"}', strict: true };
const submit = (requestId: string, guided?: GuidedDecoding): SubmitMessage => ({ requestId, promptTokenIds: [1, 2, 3], samplingParams: { maxTokens: 3, ...(guided ? { guided } : {}) }, tokenizerInstanceId: 'tok' }) as SubmitMessage;

/** In-memory ports whose prepareGuide answers when the test says so. */
class Ports implements EngineLoopPorts {
  executor = new FakeExecutor({ numBlocks: 64, blockSize: 4, vocabSize: VOCAB });
  readonly published: StepOutputsMessage[] = [];
  readonly steps: SchedulerOutput[] = [];
  readonly prepares: { spec: GuidedDecoding; answer: (a: GuidePreparation) => void }[] = [];
  /** Called with each step as it is sent (before its result is returned). */
  onStep: ((step: SchedulerOutput, index: number) => void) | undefined;
  async sendStep(_subject: string, step: SchedulerOutput): Promise<StepResult> {
    this.steps.push(step);
    this.onStep?.(step, this.steps.length - 1);
    return JSON.parse(JSON.stringify(this.executor.execute(JSON.parse(JSON.stringify(step)) as SchedulerOutput))) as StepResult;
  }
  publishOutputs(_tokenizer: string, message: StepOutputsMessage): void {
    this.published.push(message);
  }
  prepareGuide(_executorId: string, spec: GuidedDecoding): Promise<GuidePreparation> {
    return new Promise((answer) => this.prepares.push({ spec, answer }));
  }
  finalOf(requestId: string) {
    return this.published.flatMap((m) => m.outputs).find((o) => o.requestId === requestId && o.finishReason !== undefined);
  }
  scheduled(requestId: string): boolean {
    return this.steps.some((s) => s.newRequests.some((n) => n.requestId === requestId));
  }
}

function setup() {
  const ports = new Ports();
  const loop = new EngineLoop({ maxNumBatchedTokens: 64, maxNumSeqs: 8, enableChunkedPrefill: true, enablePrefixCaching: true }, ports, silent);
  loop.register(registration());
  return { ports, loop };
}
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('EngineLoop: guided requests wait out of the queue until their grammar is prepared', () => {
  it('holds a guided request (no blocks, not scheduled) while other requests run, then runs it once prepared', async () => {
    const { ports, loop } = setup();
    expect(loop.submit(submit('g', schema)).accepted).toBe(true);
    expect(loop.submit(submit('free')).accepted).toBe(true);
    await loop.whenIdle();
    expect(ports.finalOf('free')?.finishReason).toBe('length');
    expect(ports.scheduled('g')).toBe(false);
    expect(loop.numWaitingForGrammarRequests).toBe(1);
    expect(loop.stats().scheduler).toMatchObject({ numWaitingForGrammarRequests: 1, numWaitingRequests: 0, kvCache: { numBlocksUsed: 0 } });
    // Routers see it as waiting: it joins the queue next.
    expect(loop.load().numWaiting).toBe(1);
    expect(ports.prepares.map((p) => p.spec)).toEqual([schema]);
    ports.prepares[0]!.answer({ outcome: 'ready' });
    await turn();
    await loop.whenIdle();
    expect(ports.finalOf('g')?.finishReason).toBe('length');
    expect(loop.numWaitingForGrammarRequests).toBe(0);
  });

  it('one preparation for requests of one spec at a time; every later request asks again (the executor, not the scheduler, knows what it still holds)', async () => {
    const { ports, loop } = setup();
    loop.submit(submit('a', schema));
    loop.submit(submit('b', { ...schema }));
    expect(ports.prepares).toHaveLength(1);
    ports.prepares[0]!.answer({ outcome: 'ready' });
    await turn();
    await loop.whenIdle();
    expect([ports.finalOf('a')?.finishReason, ports.finalOf('b')?.finishReason]).toEqual(['length', 'length']);
    // The same spec again: held until the executor confirms once more (it answers at once for a
    // grammar it holds, and compiles again one its cache has dropped).
    loop.submit(submit('c', schema));
    expect(ports.prepares).toHaveLength(2);
    await loop.whenIdle();
    expect(ports.scheduled('c')).toBe(false);
    expect(loop.numWaitingForGrammarRequests).toBe(1);
    ports.prepares[1]!.answer({ outcome: 'ready' });
    await turn();
    await loop.whenIdle();
    expect(ports.finalOf('c')?.finishReason).toBe('length');
    loop.register(registration('e2'));
    loop.submit(submit('d', schema));
    expect(ports.prepares).toHaveLength(3);
  });

  it('a grammar the executor refuses ends its requests with error and the message; no answer lets them run (their step compiles)', async () => {
    const { ports, loop } = setup();
    loop.submit(submit('bad', { kind: 'regex', pattern: '(' }));
    loop.submit(submit('slow', schema));
    ports.prepares[0]!.answer({ outcome: 'refused', message: 'guided decoding: the grammar cannot be compiled: unbalanced' });
    ports.prepares[1]!.answer({ outcome: 'unknown', message: 'timeout' });
    await turn();
    await loop.whenIdle();
    // bad_request: the api answers 400 with the executor's message (a client's grammar, not an engine failure).
    expect(ports.finalOf('bad')).toMatchObject({ finishReason: 'error', error: expect.stringMatching(/cannot be compiled: unbalanced/), errorCode: 'bad_request', numOutputTokens: 0, newTokenIds: [] });
    expect(ports.scheduled('bad')).toBe(false);
    expect(ports.finalOf('slow')?.finishReason).toBe('length');
    expect(ports.finalOf('slow')?.errorCode).toBeUndefined();
    expect(loop.numWaitingForGrammarRequests).toBe(0);
  });

  it('a refusal ends every request held for the spec alike (the choices of an n > 1 request), in one message, and is not remembered', async () => {
    const { ports, loop } = setup();
    const spec: GuidedDecoding = { kind: 'regex', pattern: 'a{5000}' };
    for (const id of ['c0', 'c1', 'c2']) expect(loop.submit(submit(id, spec)).accepted).toBe(true);
    expect(ports.prepares).toHaveLength(1);
    ports.prepares[0]!.answer({ outcome: 'refused', message: 'guided decoding: the grammar cannot be compiled: too big' });
    await turn();
    await loop.whenIdle();
    const finals = ports.published.filter((m) => m.outputs.some((o) => o.finishReason !== undefined));
    expect(finals).toHaveLength(1);
    expect(finals[0]!.stepId).toBe(0); // out of any step
    expect(finals[0]!.outputs).toEqual(['c0', 'c1', 'c2'].map((requestId) => expect.objectContaining({ requestId, finishReason: 'error', error: 'guided decoding: the grammar cannot be compiled: too big', errorCode: 'bad_request' })));
    expect(ports.steps).toHaveLength(0);
    expect(loop.numWaitingForGrammarRequests).toBe(0);
    // A choice submitted after the refusal asks again (a refused spec is not cached as prepared).
    loop.submit(submit('c3', spec));
    expect(ports.prepares).toHaveLength(2);
  });

  it('an abort while preparing removes the request at once; the late answer finds nothing to run', async () => {
    const { ports, loop } = setup();
    loop.submit(submit('g', schema));
    expect(loop.abort(['g'], 'abort')).toBe(1);
    expect(ports.finalOf('g')?.finishReason).toBe('abort');
    expect(loop.numWaitingForGrammarRequests).toBe(0);
    ports.prepares[0]!.answer({ outcome: 'ready' });
    await turn();
    await loop.whenIdle();
    expect(ports.steps).toHaveLength(0);
    // The next request of the spec asks again.
    loop.submit(submit('h', schema));
    expect(ports.prepares).toHaveLength(2);
    ports.prepares[1]!.answer({ outcome: 'ready' });
    await turn();
    await loop.whenIdle();
    expect(ports.finalOf('h')?.finishReason).toBe('length');
  });

  it('a grammar confirmed while the loop winds down (its last step answered, no work left) still gets its requests run: no wake-up is lost', async () => {
    // The executor's answer to a prepare can arrive together with a step's result (one NATS
    // socket read): its continuation then runs among the loop's own microtasks, possibly after the
    // loop found nothing to do and before it marked itself stopped. Every such interleaving here:
    // the answer given while step `at` is sent, `hops` microtasks later.
    for (let at = 0; at < 4; at++) {
      for (let hops = 0; hops < 40; hops++) {
        const { ports, loop } = setup();
        ports.onStep = (_step, index) => {
          if (index !== at) return;
          let p = Promise.resolve();
          for (let i = 0; i < hops; i++) p = p.then(() => undefined);
          void p.then(() => ports.prepares[0]!.answer({ outcome: 'ready' }));
        };
        loop.submit(submit('g', schema));
        loop.submit(submit('free'));
        for (let i = 0; i < 10 && !ports.finalOf('g'); i++) {
          await loop.whenIdle();
          await turn();
        }
        expect({ at, hops, g: ports.finalOf('g')?.finishReason }).toEqual({ at, hops, g: 'length' });
      }
    }
  });

  it('a held request ends with error when its executor goes (like every request of the session)', async () => {
    const { ports, loop } = setup();
    loop.submit(submit('g', schema));
    loop.register(registration('e2'));
    expect(ports.finalOf('g')?.finishReason).toBe('error');
    ports.prepares[0]!.answer({ outcome: 'ready' });
    await turn();
    expect(loop.numWaitingForGrammarRequests).toBe(0);
  });
});
