import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCodes, HealthReply, HealthRequest, ProtocolError, type Reply } from '@deepinfer/contracts';
import { createLogger } from '@deepinfer/observability';
import { startNatsServer, waitFor, type NatsServerHandle } from '@deepinfer/testing';
import { MessageBus } from './message-bus.js';

describe('MessageBus against a real nats-server', () => {
  let nats: NatsServerHandle;
  let bus: MessageBus;
  let raw: NatsConnection;
  const logLines: string[] = [];
  const logger = createLogger({ name: 'test', format: 'text', level: 'warn', sink: (l) => logLines.push(l) });
  const health = (): HealthReply => Object.assign(new HealthReply(), { service: 'scheduler', instanceId: 'i1', status: 'ok', uptimeSeconds: 1, version: '0.1.0' });

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

  it('round-trips a typed request and validates the reply', async () => {
    bus.handle('t.health', HealthRequest, () => health());
    const reply = await bus.request('t.health', {}, {}, HealthReply);
    expect(reply).toBeInstanceOf(HealthReply);
    expect(reply.service).toBe('scheduler');
  });

  it('answers garbage with a bad_request error reply and keeps serving', async () => {
    bus.handle('t.strict', HealthReply, (m) => ({ echoed: m.instanceId }));
    // The raw client is another connection: the server must have the subscription before it
    // routes the first request (else "no responders").
    await bus.flush();
    for (const garbage of ['{not json', '[]', 'null', new Uint8Array([0xff, 0x00, 0x13]), JSON.stringify({ service: 'bogus' })]) {
      const reply = await rawRequest('t.strict', garbage);
      expect(reply.ok).toBe(false);
      if (!reply.ok) expect(reply.error.code).toBe(ErrorCodes.badRequest);
    }
    const good = await bus.request<{ echoed: string }>('t.strict', health());
    expect(good.echoed).toBe('i1');
  });

  it('turns a thrown ProtocolError into its code and an unexpected throw into internal', async () => {
    bus.handle('t.refuse', HealthRequest, () => {
      throw new ProtocolError(ErrorCodes.overloaded, 'queue full', 'queue');
    });
    bus.handle('t.bug', HealthRequest, () => {
      throw new TypeError('undefined is not a function');
    });
    await expect(bus.request('t.refuse', {})).rejects.toMatchObject({ code: 'overloaded', message: 'queue full', param: 'queue' });
    await expect(bus.request('t.bug', {})).rejects.toMatchObject({ code: 'internal' });
    expect(logLines.some((l) => l.includes('handler failed'))).toBe(true);
  });

  it('fails fast with unavailable when nobody serves a subject', async () => {
    const started = Date.now();
    await expect(bus.request('t.nobody', {}, { timeoutMs: 3000 })).rejects.toMatchObject({ code: ErrorCodes.unavailable });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('times out with unavailable when the handler never answers', async () => {
    bus.handle('t.slow', HealthRequest, () => new Promise(() => undefined));
    await expect(bus.request('t.slow', {}, { timeoutMs: 200 })).rejects.toMatchObject({ code: ErrorCodes.unavailable, message: expect.stringContaining('200 ms') });
  });

  it('matches concurrent replies to their requests, whatever order they come back in', async () => {
    bus.handle('t.echo', HealthReply, async (m) => {
      await new Promise((r) => setTimeout(r, m.uptimeSeconds));
      return { echoed: m.instanceId };
    });
    const ids = Array.from({ length: 20 }, (_, i) => `i${i}`);
    const replies = await Promise.all(ids.map((id, i) => bus.request<{ echoed: string }>('t.echo', { ...health(), instanceId: id, uptimeSeconds: (20 - i) * 2 })));
    expect(replies.map((r) => r.echoed)).toEqual(ids);
  });

  it('gathers one reply from every instance within the window, leaving out errors and invalid replies', async () => {
    const second = await MessageBus.connect({ url: nats.url, name: 'second', logger });
    const third = await MessageBus.connect({ url: nats.url, name: 'third', logger });
    try {
      bus.handle('t.all', HealthRequest, () => health());
      second.handle('t.all', HealthRequest, () => ({ ...health(), instanceId: 'i2' }));
      third.handle('t.all', HealthRequest, () => ({ service: 'nope' }));
      await Promise.all([bus.flush(), second.flush(), third.flush()]);
      const replies = await bus.gather('t.all', {}, { windowMs: 300 }, HealthReply);
      expect(replies.map((r) => r.instanceId).sort()).toEqual(['i1', 'i2']);
      expect(replies.every((r) => r instanceof HealthReply)).toBe(true);
    } finally {
      await second.close();
      await third.close();
    }
  });

  it('gathers nothing, at once, when nobody listens', async () => {
    const startedAt = Date.now();
    expect(await bus.gather('t.nobody', {}, { windowMs: 5000 })).toEqual([]);
    expect(Date.now() - startedAt).toBeLessThan(2000);
  });

  it('fails requests still waiting when the connection closes', async () => {
    const other = await MessageBus.connect({ url: nats.url, name: 'test-2', logger });
    other.handle('t.never', HealthRequest, () => new Promise(() => undefined));
    await other.flush();
    const started = Date.now();
    const own = other.request('t.never', {}, { timeoutMs: 10_000 });
    await other.close();
    await expect(own).rejects.toMatchObject({ code: ErrorCodes.unavailable });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses a request from another protocol version', async () => {
    const { headers } = await import('@nats-io/transport-node');
    const h = headers();
    h.set('deepinfer-protocol', '99');
    const msg = await raw.request('t.health', '{}', { timeout: 2000, headers: h });
    expect(msg.json<Reply<unknown>>()).toMatchObject({ ok: false, error: { code: ErrorCodes.protocolMismatch } });
  });

  it('drops malformed messages on a publish-only subject with one warning, and delivers valid ones', async () => {
    const received: HealthReply[] = [];
    bus.subscribe('t.events', HealthReply, (m) => void received.push(m));
    await bus.flush();
    raw.publish('t.events', 'garbage');
    raw.publish('t.events', '{"service": 3}');
    raw.publish('t.events', JSON.stringify(health()));
    await raw.flush();
    // Waited for, not timed: the three messages arrive in order, the valid one last.
    await waitFor('the valid message', () => received.length === 1 || undefined, 10_000, 10);
    expect(received).toHaveLength(1);
    expect(bus.droppedMessageCount).toBe(2);
    expect(logLines.filter((l) => l.includes('dropped a malformed message'))).toHaveLength(1);
  });
});
