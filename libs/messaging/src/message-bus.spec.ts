import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCodes, ProtocolError, Routes, type ExecutorRegistration, type HealthReply, type Reply } from '@deepinfer/contracts';
import { createLogger } from '@deepinfer/observability';
import { startNatsServer, waitFor, type NatsServerHandle } from '@deepinfer/testing';
import { MessageBus } from './message-bus.js';

// Every test uses real routes at its own instance id (a subject of its own), so tests on one
// server never hear each other.
describe('MessageBus against a real nats-server', () => {
  let nats: NatsServerHandle;
  let bus: MessageBus;
  let raw: NatsConnection;
  const logLines: string[] = [];
  const logger = createLogger({ name: 'test', format: 'text', level: 'warn', sink: (l) => logLines.push(l) });
  const health = (instanceId = 'i1'): HealthReply => ({ service: 'scheduler', instanceId, status: 'ok', uptimeSeconds: 1, version: '0.1.0' });
  const registration = (executorId: string, numBlocks = 8): ExecutorRegistration => ({
    executorId,
    epoch: 'e1',
    numBlocks,
    blockSize: 16,
    maxModelLen: 512,
    maxNumBatchedTokens: 512,
    model: { name: 'm', revision: 'r', vocabSize: 512, eosTokenIds: [2], dtype: 'float32' },
    device: 'cpu',
    stepSubject: Routes.executorStep.at(executorId).subject,
  });

  beforeAll(async () => {
    nats = await startNatsServer();
    bus = await MessageBus.connect({ url: nats.url, name: 'test', logger });
    raw = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await raw.close();
    await bus.close();
    await nats.stop();
  });

  const rawRequest = async (subject: string, data: Uint8Array | string): Promise<Reply<unknown>> =>
    (await raw.request(subject, data, { timeout: 2000 })).json<Reply<unknown>>();

  it('serves and calls a route: the request and the reply typed and validated', async () => {
    bus.serve(Routes.replicaRegister.at('t-typed'), (r) => ({ schedulerInstanceId: `s-${r.executorId}`, newSession: r.numBlocks > 4 }));
    const reply = await bus.call(Routes.replicaRegister.at('t-typed'), registration('x'));
    expect(reply).toEqual({ schedulerInstanceId: 's-x', newSession: true });
    // Compile-time checks: a wrong payload or a wrong reply does not type-check.
    // @ts-expect-error numBlocks must be a number
    void bus.call(Routes.replicaRegister.at('t-nobody'), { ...registration('y'), numBlocks: 'many' }).catch(() => undefined);
    // @ts-expect-error the handler must return a RegistrationReply
    bus.serve(Routes.replicaRegister.at('t-never'), () => ({ wrong: true }));
  });

  it('turns a reply that breaks the route’s reply schema into internal, naming the route', async () => {
    // A handler of another build (or a bug) answering with the wrong shape: served raw.
    raw.subscribe(Routes.executorPing.at('t-bad-reply').subject, { callback: (_e, m) => void m.respond(JSON.stringify({ ok: true, data: { executorId: 42 } })) });
    await raw.flush();
    const err = await bus.call(Routes.executorPing.at('t-bad-reply'), {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ code: ErrorCodes.internal, message: expect.stringContaining('malformed reply on route executorPing') });
    expect((err as ProtocolError).message).toContain('executorId (42)');
  });

  it('answers garbage with a bad_request error reply naming the field, and keeps serving', async () => {
    const to = Routes.replicaRegister.at('t-strict');
    bus.serve(to, (r) => ({ schedulerInstanceId: r.executorId, newSession: false }));
    // The raw client is another connection: the server must have the subscription before it
    // routes the first request (else "no responders").
    await bus.flush();
    for (const garbage of ['{not json', '[]', 'null', new Uint8Array([0xff, 0x00, 0x13]), JSON.stringify({ executorId: 'bogus' })]) {
      const reply = await rawRequest(to.subject, garbage);
      expect(reply.ok).toBe(false);
      if (!reply.ok) expect(reply.error.code).toBe(ErrorCodes.badRequest);
    }
    const named = await rawRequest(to.subject, JSON.stringify({ ...registration('z'), numBlocks: 0 }));
    expect(named).toMatchObject({ ok: false, error: { code: 'bad_request', param: 'numBlocks' } });
    expect(await bus.call(to, registration('ok'))).toEqual({ schedulerInstanceId: 'ok', newSession: false });
  });

  it('turns a thrown ProtocolError into its code and an unexpected throw into internal', async () => {
    bus.serve(Routes.executorPing.at('t-refuse'), () => {
      throw new ProtocolError(ErrorCodes.overloaded, 'queue full', 'queue');
    });
    bus.serve(Routes.executorPing.at('t-bug'), () => {
      throw new TypeError('undefined is not a function');
    });
    await expect(bus.call(Routes.executorPing.at('t-refuse'), {})).rejects.toMatchObject({ code: 'overloaded', message: 'queue full', param: 'queue' });
    await expect(bus.call(Routes.executorPing.at('t-bug'), {})).rejects.toMatchObject({ code: 'internal' });
    expect(logLines.some((l) => l.includes('handler failed'))).toBe(true);
  });

  it('fails fast with unavailable when nobody serves a route', async () => {
    const started = Date.now();
    await expect(bus.call(Routes.executorPing.at('t-nobody'), {}, { timeoutMs: 3000 })).rejects.toMatchObject({ code: ErrorCodes.unavailable });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('times out with unavailable when the handler never answers', async () => {
    bus.serve(Routes.executorPing.at('t-slow'), () => new Promise(() => undefined));
    await expect(bus.call(Routes.executorPing.at('t-slow'), {}, { timeoutMs: 200 })).rejects.toMatchObject({ code: ErrorCodes.unavailable, message: expect.stringContaining('200 ms') });
  });

  it('matches concurrent replies to their requests, whatever order they come back in', async () => {
    bus.serve(Routes.replicaRegister.at('t-echo'), async (r) => {
      await new Promise((res) => setTimeout(res, r.numBlocks));
      return { schedulerInstanceId: r.executorId, newSession: false };
    });
    const ids = Array.from({ length: 20 }, (_, i) => `i${i}`);
    const replies = await Promise.all(ids.map((id, i) => bus.call(Routes.replicaRegister.at('t-echo'), registration(id, (20 - i) * 2))));
    expect(replies.map((r) => r.schedulerInstanceId)).toEqual(ids);
  });

  it('gathers one reply from every instance within the window, leaving out errors and invalid replies', async () => {
    const second = await MessageBus.connect({ url: nats.url, name: 'second', logger });
    const third = await MessageBus.connect({ url: nats.url, name: 'third', logger });
    try {
      bus.serve(Routes.healthAll.at('api'), () => health());
      second.serve(Routes.healthAll.at('api'), () => health('i2'));
      third.serve(Routes.healthAll.at('api'), () => ({ service: 'nope' }) as unknown as HealthReply);
      await Promise.all([bus.flush(), second.flush(), third.flush()]);
      const replies = await bus.gather(Routes.healthAll.at('api'), {}, { windowMs: 300 });
      expect(replies.map((r) => r.instanceId).sort()).toEqual(['i1', 'i2']);
    } finally {
      await second.close();
      await third.close();
    }
  });

  it('gathers nothing, at once, when nobody listens', async () => {
    const startedAt = Date.now();
    expect(await bus.gather(Routes.stats.at('executor'), {}, { windowMs: 5000 })).toEqual([]);
    expect(Date.now() - startedAt).toBeLessThan(2000);
  });

  it('fails requests still waiting when the connection closes', async () => {
    const other = await MessageBus.connect({ url: nats.url, name: 'test-2', logger });
    other.serve(Routes.executorPing.at('t-never'), () => new Promise(() => undefined));
    await other.flush();
    const started = Date.now();
    const own = other.call(Routes.executorPing.at('t-never'), {}, { timeoutMs: 10_000 });
    await other.close();
    await expect(own).rejects.toMatchObject({ code: ErrorCodes.unavailable });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses a request from another protocol version', async () => {
    bus.serve(Routes.executorPing.at('t-version'), () => ({ executorId: 'v' }));
    await bus.flush();
    const { headers } = await import('@nats-io/transport-node');
    const h = headers();
    h.set('deepinfer-protocol', '99');
    const msg = await raw.request(Routes.executorPing.at('t-version').subject, '{}', { timeout: 2000, headers: h });
    expect(msg.json<Reply<unknown>>()).toMatchObject({ ok: false, error: { code: ErrorCodes.protocolMismatch } });
  });

  it('stops serving and listening once a subscription is unsubscribed', async () => {
    const served = bus.serve(Routes.executorPing.at('t-unsub'), () => ({ executorId: 'u' }));
    const heard: string[] = [];
    const listening = bus.listen(Routes.tokenizerClose.at('t-unsub'), (m) => void heard.push(...m.requestIds));
    await bus.flush();
    expect(await bus.call(Routes.executorPing.at('t-unsub'), {})).toEqual({ executorId: 'u' });
    bus.emit(Routes.tokenizerClose.at('t-unsub'), { requestIds: ['a'] });
    await waitFor('the event', () => heard.length === 1 || undefined, 10_000, 10);
    served.unsubscribe();
    listening.unsubscribe();
    await bus.flush();
    await expect(bus.call(Routes.executorPing.at('t-unsub'), {}, { timeoutMs: 2000 })).rejects.toMatchObject({ code: ErrorCodes.unavailable });
    bus.emit(Routes.tokenizerClose.at('t-unsub'), { requestIds: ['b'] });
    // A marker after it on a route still listened to: once it arrives, `b` would have too.
    const marker: string[] = [];
    bus.listen(Routes.tokenizerClose.at('t-marker'), (m) => void marker.push(...m.requestIds));
    await bus.flush();
    bus.emit(Routes.tokenizerClose.at('t-marker'), { requestIds: ['m'] });
    await waitFor('the marker', () => marker.length === 1 || undefined, 10_000, 10);
    expect(heard).toEqual(['a']);
  });

  it('listens on every instance of a route through its pattern', async () => {
    const heard: string[] = [];
    bus.listen(Routes.replicaKvResync.everyInstance, (m, meta) => void heard.push(`${meta.subject}:${m.routerInstanceId}`));
    await bus.flush();
    bus.emit(Routes.replicaKvResync.at('ra'), { routerInstanceId: 'x' });
    bus.emit(Routes.replicaKvResync.at('rb'), { routerInstanceId: 'y' });
    await waitFor('both events', () => heard.length === 2 || undefined, 10_000, 10);
    expect(heard).toEqual(['deepinfer.v1.replica.ra.kv_resync:x', 'deepinfer.v1.replica.rb.kv_resync:y']);
  });

  it('drops malformed messages on an event route with one warning, and delivers valid ones', async () => {
    const received: string[][] = [];
    const to = Routes.tokenizerClose.at('t-events');
    bus.listen(to, (m) => void received.push(m.requestIds));
    await bus.flush();
    raw.publish(to.subject, 'garbage');
    raw.publish(to.subject, '{"requestIds": 3}');
    raw.publish(to.subject, JSON.stringify({ requestIds: ['ok'] }));
    await raw.flush();
    // Waited for, not timed: the three messages arrive in order, the valid one last.
    await waitFor('the valid message', () => received.length === 1 || undefined, 10_000, 10);
    expect(received).toEqual([['ok']]);
    expect(bus.droppedMessageCount).toBe(2);
    expect(logLines.filter((l) => l.includes('dropped a malformed message'))).toHaveLength(1);
  });
});
