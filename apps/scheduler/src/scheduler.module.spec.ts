import { ProtocolError, Routes, type GuidedDecoding, type RequestOutput, type StepOutputsMessage, type SubmitMessage } from '@deepinfer/contracts';
import { MessageBus } from '@deepinfer/messaging';
import { createLogger } from '@deepinfer/observability';
import { FakeExecutor } from '@deepinfer/scheduler-core/testing';
import { bootstrapService, type RunningService } from '@deepinfer/service-kit';
import { getFreePort, startNatsServer, waitFor, type NatsServerHandle } from '@deepinfer/testing';
import { SchedulerModule } from './scheduler.module.js';
import { FAKE_VOCAB_SIZE, NatsFakeExecutor } from './test-support/nats-fake-executor.js';

const ADMIN_KEY = 'admin-secret';
const STEP_TIMEOUT_MS = 1000;
const CAPACITY = { numBlocks: 2048, blockSize: 16, maxModelLen: 2048, maxNumBatchedTokens: 2048 };

/** A tokenizer instance's view: every StepOutputsMessage published to it. */
class FakeTokenizer {
  readonly messages: StepOutputsMessage[] = [];
  constructor(
    bus: MessageBus,
    readonly instanceId: string,
  ) {
    bus.listen(Routes.tokenizerOutputs.at(instanceId), (m) => void this.messages.push(m));
  }
  outputsOf(requestId: string): RequestOutput[] {
    return this.messages.flatMap((m) => m.outputs.filter((o) => o.requestId === requestId));
  }
  finalOf(requestId: string): RequestOutput | undefined {
    return this.outputsOf(requestId).find((o) => o.finishReason !== undefined);
  }
  waitFinal(requestId: string, timeoutMs = 10000): Promise<RequestOutput> {
    return waitFor(`final output of ${requestId}`, () => this.finalOf(requestId), timeoutMs, 5);
  }
}

describe('scheduler service (real NATS, stand-in executor)', () => {
  let nats: NatsServerHandle;
  let running: RunningService;
  let bus: MessageBus;
  let admin: string;
  let tokA: FakeTokenizer;
  let tokB: FakeTokenizer;
  const executors: NatsFakeExecutor[] = [];
  let nextId = 0;

  const submit = (promptTokenIds: number[], maxTokens: number, tokenizer: FakeTokenizer = tokA, extra: Record<string, unknown> = {}) => {
    const requestId = `req-${nextId++}`;
    const reply = bus.call(Routes.schedulerSubmit, { requestId, promptTokenIds, samplingParams: { maxTokens, ...extra } as SubmitMessage['samplingParams'], tokenizerInstanceId: tokenizer.instanceId });
    return { requestId, reply };
  };
  const post = (path: string, key?: string) => fetch(`${admin}${path}`, { method: 'POST', headers: key ? { authorization: `Bearer ${key}` } : {} });
  const stats = async () => (await (await fetch(`${admin}/stats`)).json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const prompt = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (seed * 7919 + i * 104729) % FAKE_VOCAB_SIZE);

  beforeAll(async () => {
    nats = await startNatsServer();
    const port = await getFreePort();
    running = await bootstrapService(
      { service: 'scheduler', module: SchedulerModule.withOptions({ stepTimeoutMs: STEP_TIMEOUT_MS }), adminPort: (c) => c.schedulerAdminPort },
      {
        argv: ['--scheduler-admin-port', String(port), '--host', '127.0.0.1', '--max-num-seqs', '64', '--max-num-batched-tokens', '4096', '--admin-key', ADMIN_KEY],
        env: { DEEPINFER_NATS_URL: nats.url, DEEPINFER_LOG_LEVEL: 'error' },
      },
    );
    admin = running.adminUrl;
    bus = await MessageBus.connect({ url: nats.url, name: 'test-peers', logger: createLogger({ name: 'test', level: 'error' }) });
    tokA = new FakeTokenizer(bus, 'tok-a');
    tokB = new FakeTokenizer(bus, 'tok-b');
    await bus.flush();
  });
  afterAll(async () => {
    for (const executor of executors) executor.stop();
    await bus?.close();
    await running?.close();
    await nats?.stop();
  });

  it('refuses submits at once with `unavailable` while no executor is registered', async () => {
    const started = performance.now();
    await expect(submit([1, 2, 3], 4).reply).rejects.toMatchObject({ code: 'unavailable' });
    expect(performance.now() - started).toBeLessThan(250);
  });

  it('answers garbage on submit and register with bad_request, drops garbage aborts, and stays alive', async () => {
    const raw = async (subject: string, body: string) => JSON.parse(new TextDecoder().decode((await bus.connection.request(subject, new TextEncoder().encode(body), { timeout: 2000 })).data));
    expect(await raw(Routes.schedulerSubmit.subject, 'not json')).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await raw(Routes.schedulerSubmit.subject, JSON.stringify({ requestId: 'x', promptTokenIds: [-1], samplingParams: { maxTokens: 0 } }))).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await raw(Routes.replicaRegister.at('r0').subject, JSON.stringify({ executorId: 'e', numBlocks: 'many' }))).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    const dropped = running.bus.droppedMessageCount;
    bus.connection.publish(Routes.schedulerAbort.subject, new TextEncoder().encode('{"requestIds": 5}'));
    bus.connection.publish(Routes.schedulerAbort.subject, new TextEncoder().encode('\u0000garbage'));
    await waitFor('garbage aborts dropped', () => running.bus.droppedMessageCount === dropped + 2, 2000, 5);
    expect((await fetch(`${admin}/health`)).status).toBe(200);
  });

  it('registers an executor (then heartbeats) and streams outputs with the right tokens, finish reasons and usage', async () => {
    const executor = new NatsFakeExecutor(bus, 'exec-a', 'epoch-1', CAPACITY);
    executors.push(executor);
    expect(await executor.start()).toMatchObject({ schedulerInstanceId: running.state.instanceId, newSession: true });
    expect(await executor.register()).toMatchObject({ newSession: false });

    const p1 = prompt(40, 1);
    const p2 = prompt(17, 2);
    const p3 = prompt(5, 3);
    const stopAt = FakeExecutor.referenceTokens(p3, 3, FAKE_VOCAB_SIZE)[2]!;
    const r1 = submit(p1, 12, tokA);
    const r2 = submit(p2, 7, tokB);
    const r3 = submit(p3, 50, tokA, { stopTokenIds: [stopAt] });
    for (const r of [r1, r2, r3]) expect(await r.reply).toEqual({ accepted: true, schedulerInstanceId: running.state.instanceId, replicaId: 'r0' });

    const f1 = await tokA.waitFinal(r1.requestId);
    const f2 = await tokB.waitFinal(r2.requestId);
    const f3 = await tokA.waitFinal(r3.requestId);
    expect(tokA.outputsOf(r1.requestId).flatMap((o) => o.newTokenIds)).toEqual(FakeExecutor.referenceTokens(p1, 12, FAKE_VOCAB_SIZE));
    expect(tokB.outputsOf(r2.requestId).flatMap((o) => o.newTokenIds)).toEqual(FakeExecutor.referenceTokens(p2, 7, FAKE_VOCAB_SIZE));
    expect(f1).toMatchObject({ finishReason: 'length', numPromptTokens: 40, numOutputTokens: 12, numCachedTokens: 0 });
    expect(f2).toMatchObject({ finishReason: 'length', numPromptTokens: 17, numOutputTokens: 7 });
    expect(f3).toMatchObject({ finishReason: 'stop', stopTokenId: stopAt, numOutputTokens: 3 });
    expect(f1.metrics?.queueTimeMs).toBeGreaterThanOrEqual(0);
    // One batched message per step per tokenizer, each holding only that tokenizer's requests.
    const stepIdsA = tokA.messages.map((m) => m.stepId);
    expect(new Set(stepIdsA).size).toBe(stepIdsA.length);
    expect(tokB.messages.every((m) => m.outputs.every((o) => o.requestId === r2.requestId))).toBe(true);
    expect(tokA.messages.some((m) => m.outputs.length === 2)).toBe(true);
  });

  it('serves 32 concurrent requests sharing a 256-token prefix from the prefix cache', async () => {
    const shared = prompt(256, 4);
    const requests = Array.from({ length: 32 }, (_, i) => submit([...shared, ...prompt(8, 100 + i)], 4));
    await Promise.all(requests.map((r) => r.reply));
    const finals = await Promise.all(requests.map((r) => tokA.waitFinal(r.requestId)));
    expect(finals.every((f) => f.finishReason === 'length' && f.numOutputTokens === 4 && f.numPromptTokens === 264)).toBe(true);
    expect(finals.filter((f) => f.numCachedTokens === 256).length).toBeGreaterThanOrEqual(31);
    const s = await stats();
    expect(s['scheduler'].prefixCache.numHitTokens).toBeGreaterThanOrEqual(31 * 256);
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    const hits = Number(/deepinfer_prefix_cache_hits_total\{[^}]*\} (\d+)/.exec(metrics)?.[1]);
    expect(hits).toBeGreaterThanOrEqual(31 * 256);
  });

  it('aborts a running request: its final output says `abort` and its blocks are freed', async () => {
    executors[0]!.stepDelayMs = 5;
    try {
      const r = submit(prompt(100, 5), 1000);
      await r.reply;
      await waitFor('first token', () => tokA.outputsOf(r.requestId).length > 0, 5000, 5);
      bus.emit(Routes.schedulerAbort, { requestIds: [r.requestId, 'not-ours'], reason: 'abort' });
      expect(await tokA.waitFinal(r.requestId)).toMatchObject({ finishReason: 'abort', numPromptTokens: 100 });
      await waitFor('idle', async () => {
        const s = await stats();
        return s['scheduler'].numRunningRequests === 0 && s['scheduler'].kvCache.numBlocksUsed === 0;
      }, 5000, 10);
    } finally {
      executors[0]!.stepDelayMs = 0;
    }
  });

  it('drains: refuses new submits with `overloaded`, finishes running requests, then resumes', async () => {
    executors[0]!.stepDelayMs = 5;
    try {
      const running1 = submit(prompt(20, 6), 15);
      const running2 = submit(prompt(20, 7), 15);
      await Promise.all([running1.reply, running2.reply]);
      expect((await post('/drain')).status).toBe(401);
      const drained = await post('/drain', ADMIN_KEY);
      expect(drained.status).toBe(200);
      expect(await drained.json()).toMatchObject({ draining: true });
      await expect(submit([1, 2], 2).reply).rejects.toMatchObject({ code: 'overloaded' });
      expect(await tokA.waitFinal(running1.requestId)).toMatchObject({ finishReason: 'length', numOutputTokens: 15 });
      expect(await tokA.waitFinal(running2.requestId)).toMatchObject({ finishReason: 'length', numOutputTokens: 15 });
      expect((await post('/resume', ADMIN_KEY)).status).toBe(200);
      const after = submit([1, 2], 2);
      await after.reply;
      expect(await tokA.waitFinal(after.requestId)).toMatchObject({ finishReason: 'length' });
    } finally {
      executors[0]!.stepDelayMs = 0;
    }
  });

  it('serves /stats, guards the state-changing routes, and exports the metrics', async () => {
    const s = await stats();
    expect(s).toMatchObject({
      instanceId: running.state.instanceId,
      draining: false,
      executor: { executorId: 'exec-a', epoch: 'epoch-1', device: 'cpu', numBlocks: 2048, blockSize: 16, maxModelLen: 2048, maxNumBatchedTokens: 2048 },
      scheduler: { numWaitingRequests: 0, numRunningRequests: 0, kvCache: { numBlocksTotal: 2048, numBlocksUsed: 0 } },
    });
    expect(s['scheduler'].kvCache.numBlocksCached).toBeGreaterThan(0);
    expect(s['scheduler'].batchSizeHistogram.count).toBeGreaterThan(0);
    expect(typeof s['stepsPerSecond']).toBe('number');
    expect(s['scheduler'].numPrefillTokensTotal).toBeGreaterThan(0);
    expect(s['scheduler'].numDecodeTokensTotal).toBeGreaterThan(0);
    expect(s['scheduler'].recentSteps.length).toBeGreaterThan(0);
    // The same snapshot over NATS (what the api's console gathers), from every instance.
    const overNats = await bus.gather(Routes.stats.at('scheduler'), {}, { windowMs: 200 });
    expect(overNats).toHaveLength(1);
    expect(overNats[0]).toMatchObject({ service: 'scheduler', instanceId: running.state.instanceId, stats: { instanceId: running.state.instanceId, executor: { executorId: 'exec-a' } } });
    expect((overNats[0]!.stats['scheduler'] as { numStepsTotal: number }).numStepsTotal).toBe(s['scheduler'].numStepsTotal);

    expect((await post('/reset_prefix_cache')).status).toBe(401);
    expect((await post('/reset_prefix_cache', 'wrong')).status).toBe(401);
    const reset = await post('/reset_prefix_cache', ADMIN_KEY);
    expect(reset.status).toBe(200);
    expect(await reset.json()).toEqual({ reset: true });
    expect((await stats())['scheduler'].kvCache.numBlocksCached).toBe(0);

    const metrics = await (await fetch(`${admin}/metrics`)).text();
    for (const name of [
      'deepinfer_num_requests_running',
      'deepinfer_num_requests_waiting',
      'deepinfer_kv_cache_usage_perc',
      'deepinfer_prefix_cache_queries_total',
      'deepinfer_prefix_cache_hits_total',
      'deepinfer_request_queue_time_seconds_bucket',
      'deepinfer_request_prefill_time_seconds_bucket',
      'deepinfer_request_decode_time_seconds_bucket',
      'deepinfer_iteration_tokens_total_bucket',
      'deepinfer_num_preemptions_total',
      'deepinfer_num_steps_total',
      'deepinfer_executor_registered',
    ]) {
      expect(metrics).toContain(`${name}{`);
    }
    const health = await (await fetch(`${admin}/health`)).json();
    expect(health).toMatchObject({ status: 'ok', details: { executor: { executorId: 'exec-a' }, numRunningRequests: 0, numWaitingRequests: 0 } });
  });

  it('a grammar the executor refuses (bad_request) ends every choice held for it with error and that code, before any output; other prepare failures let the request run', async () => {
    const executor = executors[0]!;
    const refused: GuidedDecoding = { kind: 'regex', pattern: 'x{9}' };
    const failing: GuidedDecoding = { kind: 'regex', pattern: 'y{9}' };
    const reason = 'guided decoding: the grammar cannot be compiled: too big';
    executor.prepareFailure = (spec) => {
      if (spec.kind !== 'regex') return undefined;
      if (spec.pattern === refused.pattern) return { code: 'bad_request', message: reason };
      if (spec.pattern === failing.pattern) return { code: 'internal', message: 'the guide worker died' };
      return undefined;
    };
    try {
      // Two choices of one request (n = 2): one spec, both held for it.
      const choices = [0, 1].map(() => submit(prompt(10, 9), 5, tokA, { guided: refused }));
      const other = submit(prompt(10, 10), 5, tokA, { guided: failing });
      for (const r of [...choices, other]) await r.reply;
      for (const r of choices) {
        expect(await tokA.waitFinal(r.requestId)).toMatchObject({ finishReason: 'error', error: reason, errorCode: 'bad_request', numOutputTokens: 0, newTokenIds: [] });
        expect(tokA.outputsOf(r.requestId)).toHaveLength(1); // the refusal is the request's only output
      }
      // Not the grammar's fault: the scheduler lets it run (its first step compiles it), with no code.
      const ran = await tokA.waitFinal(other.requestId);
      expect(ran).toMatchObject({ finishReason: 'length', numOutputTokens: 5 });
      expect(ran.errorCode).toBeUndefined();
      expect(executor.prepared).toEqual(expect.arrayContaining([refused, failing]));
    } finally {
      executor.prepareFailure = () => undefined;
    }
  });

  it('fails in-flight requests with `error` when the executor stops answering, then serves a newly registered executor', async () => {
    const old = executors[0]!;
    old.stepDelayMs = 5;
    const shared = prompt(64, 8);
    const requests = Array.from({ length: 4 }, (_, i) => submit([...shared, i], 1000));
    await Promise.all(requests.map((r) => r.reply));
    await waitFor('tokens flowing', () => requests.every((r) => tokA.outputsOf(r.requestId).length > 0), 5000, 5);
    old.mode = 'hang';
    const hungAt = performance.now();
    const finals = await Promise.all(requests.map((r) => tokA.waitFinal(r.requestId, 5000)));
    const elapsed = performance.now() - hungAt;
    expect(finals.every((f) => f.finishReason === 'error' && f.error?.includes('stopped responding'))).toBe(true);
    expect(elapsed).toBeLessThan(STEP_TIMEOUT_MS + 1500);
    expect((await stats())['executor']).toBeNull();
    await expect(submit([1, 2], 2).reply).rejects.toBeInstanceOf(ProtocolError);
    await expect(submit([1, 2], 2).reply).rejects.toMatchObject({ code: 'unavailable' });
    expect(await (await fetch(`${admin}/metrics`)).text()).toMatch(/deepinfer_executor_failures_total\{[^}]*\} 1/);
    old.stop();

    const replacement = new NatsFakeExecutor(bus, 'exec-b', 'epoch-1', CAPACITY);
    executors.push(replacement);
    expect(await replacement.start()).toMatchObject({ newSession: true });
    const again = submit([...shared, 0], 5);
    await again.reply;
    // The prefix cache was reset with the executor: the same prompt hits nothing.
    expect(await tokA.waitFinal(again.requestId)).toMatchObject({ finishReason: 'length', numOutputTokens: 5, numCachedTokens: 0 });
    expect(tokA.outputsOf(again.requestId).flatMap((o) => o.newTokenIds)).toEqual(FakeExecutor.referenceTokens([...shared, 0], 5, FAKE_VOCAB_SIZE));
  });
});
