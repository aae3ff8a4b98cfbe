import { Controller, Injectable, Module } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { lastValueFrom, of, type Observable } from 'rxjs';
import { ErrorCodes, ProtocolError, Routes, type ExecutorPingReply, type KvResyncRequest, type PingRequest, type StepOutputsMessage, type StreamCloseMessage } from '@deepinfer/contracts';
import { MessageBus } from '@deepinfer/messaging';
import { createLogger } from '@deepinfer/observability';
import { getFreePort, startNatsServer, waitFor, type NatsServerHandle } from '@deepinfer/testing';
import { bootstrapService, type RunningService } from '../bootstrap-service.js';
import { BusHandlers } from '../bus-handlers.js';
import { SERVICE_STATE } from '../service-tokens.js';
import type { ServiceState } from '../service-state.js';
import { BusClient } from './bus-client.js';
import { BusContext } from './bus-context.js';
import { ROUTE_INSTANCES } from './route-binding.js';
import { BusRoute, ListenRoute, ServeRoute } from './route-decorators.js';

const INSTANCE = 'probe-1';
const refusal = () => new ProtocolError(ErrorCodes.badRequest, 'no such request', 'requestIds[0]');

/** Handlers the Nest way: request and event routes, a ProtocolError, an unexpected throw, an Observable reply. */
@Controller()
class ProbeController {
  readonly closed: { ids: string[]; subject: string }[] = [];
  readonly statuses: string[] = [];

  @ServeRoute(Routes.executorPing)
  ping(request: PingRequest, ctx: BusContext): ExecutorPingReply {
    return { executorId: `${INSTANCE}@${ctx.getSubject()}` };
  }

  @ServeRoute(Routes.tokenizerEncode)
  encode(): never {
    throw refusal();
  }

  @ServeRoute(Routes.tokenizerDecode)
  decode(): never {
    throw new Error('boom');
  }

  @ServeRoute(Routes.tokenizerInfo)
  info(): Observable<{ vocabSize: number; bosTokenId: null; eosTokenIds: number[]; hasChatTemplate: false; chatTemplate: null; maxModelLen: number; specialTokens: [] }> {
    return of({ vocabSize: 1, bosTokenId: null, eosTokenIds: [], hasChatTemplate: false, chatTemplate: null, maxModelLen: 8, specialTokens: [] });
  }

  @ListenRoute(Routes.tokenizerClose)
  close(message: StreamCloseMessage, ctx: BusContext): void {
    this.closed.push({ ids: message.requestIds, subject: ctx.getSubject() });
  }

  @ListenRoute(Routes.replicaKvResync, { everyInstance: true })
  resync(message: KvResyncRequest, ctx: BusContext): void {
    this.statuses.push(`${message.routerInstanceId}@${ctx.getSubject()}`);
  }
}

/** The hot path's way: a provider method bound straight to the bus. */
@Injectable()
class HotProbe {
  readonly outputs: number[] = [];
  @BusRoute(Routes.tokenizerOutputs)
  onStep(message: StepOutputsMessage): void {
    this.outputs.push(message.outputs.length);
  }
}

/** What the instance-owning module provides: the ids of its per-instance routes. */
const instances = { provide: ROUTE_INSTANCES, useFactory: () => ({ executorId: INSTANCE, tokenizerInstanceId: INSTANCE }) };

@Module({ controllers: [ProbeController], providers: [HotProbe, instances] })
class ProbeModule {}

@Controller()
class UnknownPatternController {
  @MessagePattern('tokenizerEncodeV2')
  encode(): string {
    return '';
  }
}
@Module({ controllers: [UnknownPatternController] })
class UnknownPatternModule {}

/** Listens to a per-instance route, in a module that owns no such instance. */
@Module({ controllers: [ProbeController] })
class NoInstanceModule {}

@Controller()
class WrongKindController {
  @MessagePattern(Routes.schedulerAbort.name)
  abort(): void {}
}
@Module({ controllers: [WrongKindController] })
class WrongKindModule {}

// Compile-time checks of the typed decorators (tsc fails if these stop being errors).
export class TypeChecks {
  // @ts-expect-error a handler of the step route cannot take a ping request
  @ServeRoute(Routes.executorStep) wrongRequest(request: { numbers: number[] }): void {
    void request;
  }
  // @ts-expect-error a ping handler must reply with an ExecutorPingReply
  @ServeRoute(Routes.executorPing) wrongReply(): { text: string } {
    return { text: '' };
  }
  // @ts-expect-error an abort listener gets an AbortMessage, not a step's outputs
  @ListenRoute(Routes.schedulerAbort) wrongMessage(message: StepOutputsMessage): void {
    void message;
  }
}

describe('BusTransport (Nest handlers over the bus)', () => {
  let nats: NatsServerHandle;
  let running: RunningService;
  let client: MessageBus;
  const logger = createLogger({ name: 'test', level: 'error' });

  const start = async (module: unknown, service: 'executor' | 'tokenizer' = 'executor') => {
    const port = await getFreePort();
    return bootstrapService(
      { service, module: module as never, adminPort: (c) => (service === 'executor' ? c.executorAdminPort : c.tokenizerAdminPort) },
      { argv: [`--${service}-admin-port`, String(port), '--host', '127.0.0.1'], env: { DEEPINFER_NATS_URL: nats.url, DEEPINFER_LOG_LEVEL: 'error' } },
    );
  };
  /** The raw reply envelope on a subject (what any NATS client sees). */
  const rawReply = async (subject: string, body: object) => JSON.parse(new TextDecoder().decode((await client.connection.request(subject, JSON.stringify(body), { timeout: 5000 })).data)) as unknown;

  beforeAll(async () => {
    nats = await startNatsServer();
    running = await start(ProbeModule);
    client = await MessageBus.connect({ url: nats.url, name: 'client', logger });
  });
  afterAll(async () => {
    await client?.close();
    await running?.close();
    await nats?.stop();
  });

  it('serves a request route through @ServeRoute at the instance the service owns, with the handler’s reply', async () => {
    const subject = Routes.executorPing.at(INSTANCE).subject;
    expect(await client.call(Routes.executorPing.at(INSTANCE), {})).toEqual({ executorId: `${INSTANCE}@${subject}` });
    expect(running.handlers.active).toEqual(expect.arrayContaining([{ name: 'executorPing', subject }]));
  });

  it('replies with an Observable’s value, and health/stats come through the transport too', async () => {
    expect(await client.call(Routes.tokenizerInfo, {})).toMatchObject({ vocabSize: 1, maxModelLen: 8 });
    expect(await client.call(Routes.health.at('executor'), {})).toMatchObject({ service: 'executor', instanceId: running.state.instanceId });
  });

  it('turns a thrown ProtocolError, and an unexpected error, into the same envelopes as a handler bound directly', async () => {
    const direct = new BusHandlers(running.bus);
    direct.serve(Routes.executorPing.at('direct-refuse'), () => {
      throw refusal();
    });
    direct.serve(Routes.executorPing.at('direct-boom'), () => {
      throw new Error('boom');
    });
    await direct.flush();
    try {
      const nestRefusal = await rawReply(Routes.tokenizerEncode.subject, { text: 'x' });
      expect(nestRefusal).toEqual({ ok: false, error: { code: 'bad_request', message: 'no such request', param: 'requestIds[0]' } });
      expect(nestRefusal).toEqual(await rawReply(Routes.executorPing.at('direct-refuse').subject, {}));
      const nestBoom = await rawReply(Routes.tokenizerDecode.subject, { tokenIds: [1] });
      expect(nestBoom).toEqual({ ok: false, error: { code: 'internal', message: 'internal error: boom' } });
      expect(nestBoom).toEqual(await rawReply(Routes.executorPing.at('direct-boom').subject, {}));
      // Validation stays in the bus: a malformed request never reaches the handler.
      await expect(client.call(Routes.tokenizerDecode, { tokenIds: ['a'] } as never)).rejects.toMatchObject({ code: 'bad_request', param: 'tokenIds[0]' });
    } finally {
      direct.close();
    }
  });

  it('delivers event routes to @ListenRoute handlers: at its own instance, and at every instance', async () => {
    const controller = running.app.get(ProbeController);
    client.emit(Routes.tokenizerClose.at(INSTANCE), { requestIds: ['a', 'b'] });
    client.emit(Routes.tokenizerClose.at('someone-else'), { requestIds: ['c'] });
    client.emit(Routes.replicaKvResync.at('r7'), { routerInstanceId: 'api-1' });
    await waitFor('both events', () => controller.closed.length === 1 && controller.statuses.length === 1);
    expect(controller.closed).toEqual([{ ids: ['a', 'b'], subject: Routes.tokenizerClose.at(INSTANCE).subject }]);
    expect(controller.statuses).toEqual([`api-1@${Routes.replicaKvResync.at('r7').subject}`]);
  });

  it('binds @BusRoute methods of providers straight to the bus', async () => {
    const hot = running.app.get(HotProbe);
    client.emit(Routes.tokenizerOutputs.at(INSTANCE), { stepId: 1, outputs: [] });
    await waitFor('the outputs', () => hot.outputs.length === 1);
    expect(running.handlers.active.filter((a) => a.name === 'tokenizerOutputs')).toEqual([{ name: 'tokenizerOutputs', subject: Routes.tokenizerOutputs.at(INSTANCE).subject }]);
  });

  it('gives Nest-style callers a ClientProxy: send is a call, emit an emit, errors are the bus’s', async () => {
    const nestClient = new BusClient(client);
    expect(await lastValueFrom(nestClient.send(Routes.executorPing.at(INSTANCE), {}))).toMatchObject({ executorId: expect.stringContaining(INSTANCE) });
    expect(await lastValueFrom(nestClient.send('tokenizerInfo', {}))).toMatchObject({ vocabSize: 1 });
    await expect(lastValueFrom(nestClient.send('tokenizerEncode', { text: 'x' }))).rejects.toMatchObject({ code: 'bad_request', param: 'requestIds[0]' });
    await expect(lastValueFrom(nestClient.send('executorPing', {}))).rejects.toThrow(/pass its address/);
    await expect(lastValueFrom(nestClient.send('schedulerAbort', {}))).rejects.toThrow(/use emit/);
    const controller = running.app.get(ProbeController);
    const before = controller.closed.length;
    await lastValueFrom(nestClient.emit(Routes.tokenizerClose.at(INSTANCE), { requestIds: ['z'] }), { defaultValue: undefined });
    await waitFor('the emitted close', () => controller.closed.length === before + 1);
  });

  it('refuses at start-up a pattern that names no route, a per-instance route of an instance not owned, and the wrong kind', async () => {
    await expect(start(UnknownPatternModule)).rejects.toThrow(/no route is named "tokenizerEncodeV2"/);
    await expect(start(NoInstanceModule)).rejects.toThrow(/route executorPing .* is per executorId, and this service owns no executorId/);
    await expect(start(WrongKindModule)).rejects.toThrow(/schedulerAbort is an event route: use @EventPattern/);
  });

  it('unsubscribes every route at close (the transport’s and @BusRoute’s alike)', async () => {
    const second = await start(ProbeModule, 'tokenizer');
    const state = second.app.get<ServiceState>(SERVICE_STATE);
    expect(state.service).toBe('tokenizer');
    expect(second.handlers.active.map((a) => a.name).sort()).toEqual(
      ['executorPing', 'health', 'healthAll', 'replicaKvResync', 'stats', 'tokenizerClose', 'tokenizerDecode', 'tokenizerEncode', 'tokenizerInfo', 'tokenizerOutputs'].sort(),
    );
    await second.close();
    expect(second.handlers.active).toEqual([]);
    // The first service still answers the shared routes; the second's own subjects are gone.
    expect(await client.call(Routes.health.at('tokenizer'), {}, { timeoutMs: 2000 }).catch((e: ProtocolError) => e.code)).toBe('unavailable');
  });
});
