import type { SchedulerOutput, StepOutputsMessage, StepResult, SubmitMessage } from '@deepinfer/contracts';
import { FakeExecutor } from '../stand-in/fake-executor.js';
import { TEST_VOCAB, testRegistration } from '../test-support/executor-registration.js';
import { EngineLoop, OUT_OF_STEP_ID } from './engine-loop.js';
import type { EngineLoopPorts, StepObservation } from './engine-loop-ports.js';

const VOCAB = TEST_VOCAB;
const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

const registration = testRegistration;

function submit(requestId: string, promptTokenIds: number[], maxTokens = 4, tokenizerInstanceId = 'tok-a'): SubmitMessage {
  return { requestId, promptTokenIds, samplingParams: { maxTokens }, tokenizerInstanceId } as SubmitMessage;
}

/** In-memory ports: the FakeExecutor answers each step after a JSON round trip (as on the wire). */
class MemoryPorts implements EngineLoopPorts {
  executor = new FakeExecutor({ numBlocks: 64, blockSize: 4, vocabSize: VOCAB });
  readonly published: { tokenizerInstanceId: string; message: StepOutputsMessage }[] = [];
  readonly steps: SchedulerOutput[] = [];
  failWith: Error | undefined;
  hold: Promise<void> | undefined;

  async sendStep(_subject: string, step: SchedulerOutput): Promise<StepResult> {
    this.steps.push(step);
    await (this.hold ?? Promise.resolve());
    if (this.failWith) throw this.failWith;
    return JSON.parse(JSON.stringify(this.executor.execute(JSON.parse(JSON.stringify(step)) as SchedulerOutput))) as StepResult;
  }
  publishOutputs(tokenizerInstanceId: string, message: StepOutputsMessage): void {
    this.published.push({ tokenizerInstanceId, message: JSON.parse(JSON.stringify(message)) as StepOutputsMessage });
  }
  outputsOf(requestId: string) {
    return this.published.flatMap((p) => p.message.outputs.filter((o) => o.requestId === requestId));
  }
}

function setup(settings: Partial<ConstructorParameters<typeof EngineLoop>[0]> = {}) {
  const ports = new MemoryPorts();
  const observed: StepObservation[] = [];
  const loop = new EngineLoop(
    { maxNumBatchedTokens: 64, maxNumSeqs: 8, enableChunkedPrefill: true, enablePrefixCaching: true, ...settings },
    ports,
    silent,
    { onStep: (s) => observed.push(s) },
  );
  return { ports, loop, observed };
}

describe('EngineLoop', () => {
  it.each([true, false])('async_scheduling %s: two steps in flight when on, one when off, the same outputs either way', async (asyncScheduling) => {
    const { ports, loop } = setup({ asyncScheduling });
    let inFlight = 0;
    let maxInFlight = 0;
    const send = ports.sendStep.bind(ports);
    ports.sendStep = async (subject, step) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        return await send(subject, step);
      } finally {
        inFlight--;
      }
    };
    loop.register(registration());
    loop.submit(submit('r1', [1, 2, 3, 4, 5], 12));
    loop.submit(submit('r2', [9, 8, 7], 9));
    await loop.whenIdle();
    expect(maxInFlight).toBe(asyncScheduling ? 2 : 1);
    expect(ports.outputsOf('r1').flatMap((o) => o.newTokenIds)).toEqual(FakeExecutor.referenceTokens([1, 2, 3, 4, 5], 12, VOCAB));
    expect(ports.outputsOf('r2').flatMap((o) => o.newTokenIds)).toEqual(FakeExecutor.referenceTokens([9, 8, 7], 9, VOCAB));
  });

  it('refuses submits with `unavailable` until an executor registers', () => {
    const { loop } = setup();
    expect(loop.submit(submit('r1', [1, 2, 3]))).toMatchObject({ accepted: false, code: 'unavailable' });
  });

  it('runs accepted requests to completion and publishes one message per tokenizer per step', async () => {
    const { ports, loop, observed } = setup();
    expect(loop.register(registration())).toEqual({ accepted: true, value: { newSession: true } });
    const prompts = { r1: [1, 2, 3, 4, 5], r2: [9, 8, 7], r3: [4, 4, 4, 4, 4, 4] };
    expect(loop.submit(submit('r1', prompts.r1, 4, 'tok-a')).accepted).toBe(true);
    expect(loop.submit(submit('r2', prompts.r2, 6, 'tok-b')).accepted).toBe(true);
    expect(loop.submit(submit('r3', prompts.r3, 3, 'tok-a')).accepted).toBe(true);
    await loop.whenIdle();

    for (const [id, prompt] of Object.entries(prompts)) {
      const outputs = ports.outputsOf(id);
      const maxTokens = { r1: 4, r2: 6, r3: 3 }[id]!;
      expect(outputs.flatMap((o) => o.newTokenIds)).toEqual(FakeExecutor.referenceTokens(prompt, maxTokens, VOCAB));
      expect(outputs.at(-1)).toMatchObject({ finishReason: 'length', numPromptTokens: prompt.length, numOutputTokens: maxTokens });
      expect(outputs.filter((o) => o.finishReason !== undefined)).toHaveLength(1);
    }
    // Submitted together, admitted together: one step, one message per tokenizer instance.
    expect(ports.steps[0]!.newRequests).toHaveLength(3);
    const perStep = new Map<number, string[]>();
    for (const p of ports.published) perStep.set(p.message.stepId, [...(perStep.get(p.message.stepId) ?? []), p.tokenizerInstanceId]);
    for (const tokenizers of perStep.values()) expect(new Set(tokenizers).size).toBe(tokenizers.length);
    expect(ports.published.filter((p) => p.tokenizerInstanceId === 'tok-b').every((p) => p.message.outputs.every((o) => o.requestId === 'r2'))).toBe(true);
    // The last step tells the executor to drop the finished requests; then the loop sleeps.
    expect(ports.executor.heldRequestIds).toEqual([]);
    expect(loop.stats().scheduler?.kvCache.numBlocksUsed).toBe(0);
    expect(observed.length).toBe(ports.steps.length);
    expect(observed.reduce((n, s) => n + s.numPrefixQueryTokens, 0)).toBe(14);
  });

  it('maps refusals to wire codes, with vLLM-style counts for a prompt that does not fit', () => {
    const { loop } = setup({ maxModelLen: 16, maxNumWaitingRequests: 1 });
    loop.register(registration());
    const tooLong = loop.submit(submit('long', Array.from({ length: 16 }, (_, i) => i)));
    expect(tooLong).toMatchObject({ accepted: false, code: 'context_length_exceeded' });
    expect(tooLong.accepted || tooLong.message).toContain("maximum context length is 16 tokens. However, your request has 16 input tokens");
    expect(loop.submit(submit('a', [1])).accepted).toBe(true);
    expect(loop.submit(submit('a', [1]))).toMatchObject({ accepted: false, code: 'bad_request' });
    expect(loop.submit(submit('b', [1]))).toMatchObject({ accepted: false, code: 'overloaded' });
    loop.setDraining(true);
    expect(loop.submit(submit('c', [1]))).toMatchObject({ accepted: false, code: 'overloaded' });
  });

  it('clips the context length and step budget to the executor, and refuses a capacity it cannot use', () => {
    const { loop } = setup({ maxModelLen: 100, maxNumBatchedTokens: 4096 });
    expect(loop.register(registration({ maxModelLen: 256, numBlocks: 8, blockSize: 4 }))).toMatchObject({ accepted: false, code: 'bad_request' });
    expect(loop.hasExecutor).toBe(false);
    loop.register(registration({ maxModelLen: 120, maxNumBatchedTokens: 32 }));
    expect(loop.stats().executor).toMatchObject({ maxModelLen: 100, maxNumBatchedTokens: 32, executorId: 'exec-1' });
  });

  it('treats the same epoch as a heartbeat and a new epoch as a new executor whose predecessor’s requests fail', async () => {
    const { ports, loop } = setup();
    loop.register(registration());
    let release!: () => void;
    ports.hold = new Promise((r) => (release = r));
    loop.submit(submit('r1', [1, 2, 3], 50));
    await new Promise((r) => setImmediate(r));
    expect(loop.register(registration())).toEqual({ accepted: true, value: { newSession: false } });
    expect(loop.register(registration({ epoch: 'e2' }))).toEqual({ accepted: true, value: { newSession: true } });
    expect(ports.outputsOf('r1')).toEqual([expect.objectContaining({ finishReason: 'error', numOutputTokens: 0 })]);
    expect(ports.published.at(-1)!.message.stepId).toBe(OUT_OF_STEP_ID);
    ports.hold = undefined;
    release();
    await new Promise((r) => setImmediate(r)); // the old executor answers the old step, too late
    ports.executor = new FakeExecutor({ numBlocks: 64, blockSize: 4, vocabSize: VOCAB }); // a new epoch is a new process
    await loop.whenIdle();
    expect(ports.outputsOf('r1')).toHaveLength(1); // the old step's late result is dropped
    expect(loop.submit(submit('r2', [1, 2, 3], 2)).accepted).toBe(true);
    await loop.whenIdle();
    expect(ports.outputsOf('r2').at(-1)).toMatchObject({ finishReason: 'length', numOutputTokens: 2 });
  });

  it('fails every request at once when a step fails, refuses submits, and serves again after a registration with an empty prefix cache', async () => {
    const { ports, loop } = setup();
    loop.register(registration());
    const prefix = Array.from({ length: 16 }, (_, i) => i + 1);
    loop.submit(submit('warm', [...prefix, 99], 1));
    await loop.whenIdle();
    expect(loop.stats().scheduler?.kvCache.numBlocksCached).toBeGreaterThan(0);

    ports.failWith = new Error('no reply within 30000 ms');
    for (let i = 0; i < 12; i++) expect(loop.submit(submit(`r${i}`, [...prefix, i], 20)).accepted).toBe(true);
    await loop.whenIdle();
    for (let i = 0; i < 12; i++) {
      // unavailable: a client that has received nothing gets a 503 it may retry.
      expect(ports.outputsOf(`r${i}`)).toEqual([expect.objectContaining({ finishReason: 'error', error: expect.stringContaining('stopped responding'), errorCode: 'unavailable' })]);
    }
    expect(loop.hasExecutor).toBe(false);
    expect(loop.stats()).toMatchObject({ executor: null, numExecutorFailuresTotal: 1, scheduler: null });
    expect(loop.submit(submit('late', [1]))).toMatchObject({ accepted: false, code: 'unavailable' });

    ports.failWith = undefined;
    ports.executor = new FakeExecutor({ numBlocks: 64, blockSize: 4, vocabSize: VOCAB }); // a new epoch is a new process
    loop.register(registration({ epoch: 'e2' }));
    loop.submit(submit('again', [...prefix, 5], 2));
    await loop.whenIdle();
    expect(ports.outputsOf('again').at(-1)).toMatchObject({ finishReason: 'length', numCachedTokens: 0 });
  });

  it('fails the executor when its result breaks the step contract', async () => {
    const { ports, loop } = setup();
    loop.register(registration());
    ports.sendStep = async (_s, step) => ({ stepId: step.stepId + 1, sampled: [] });
    loop.submit(submit('r1', [1, 2]));
    await loop.whenIdle();
    expect(ports.outputsOf('r1')).toEqual([expect.objectContaining({ finishReason: 'error', errorCode: 'unavailable' })]);
    expect(loop.hasExecutor).toBe(false);
  });

  it('aborts only its own requests, publishes their final output and frees their blocks', async () => {
    const { ports, loop } = setup();
    loop.register(registration());
    let release!: () => void;
    ports.hold = new Promise((r) => (release = r));
    loop.submit(submit('mine', [1, 2, 3, 4, 5, 6], 50));
    await new Promise((r) => setImmediate(r)); // the first step is at the executor
    expect(loop.abort(['mine', 'someone-else'], 'abort')).toBe(1);
    expect(ports.outputsOf('mine')).toEqual([expect.objectContaining({ finishReason: 'abort' })]);
    release();
    ports.hold = undefined;
    await loop.whenIdle();
    expect(ports.outputsOf('mine')).toHaveLength(1);
    expect(ports.executor.heldRequestIds).toEqual([]);
    expect(loop.stats().scheduler?.kvCache.numBlocksUsed).toBe(0);
  });

  it('close() ends live requests with `error` and stops the loop', async () => {
    const { ports, loop } = setup();
    loop.register(registration());
    ports.hold = new Promise(() => {}); // never answers
    loop.submit(submit('r1', [1, 2], 10));
    await new Promise((r) => setImmediate(r));
    await loop.close();
    expect(ports.outputsOf('r1')).toEqual([expect.objectContaining({ finishReason: 'error', errorCode: 'unavailable' })]);
  });
});
