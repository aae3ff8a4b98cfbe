import { Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { Routes } from '@deepinfer/contracts';
import { ConfigError, type DeepInferConfig } from '@deepinfer/config';
import { MessageBus } from '@deepinfer/messaging';
import { createLogger } from '@deepinfer/observability';
import { getFreePort, startNatsServer, type NatsServerHandle } from '@deepinfer/testing';
import { bootstrapService, type RunningService } from './bootstrap-service.js';
import { BusHandlers } from './bus-handlers.js';
import { CONFIG, SERVICE_STATE } from './service-tokens.js';
import type { ServiceState } from './service-state.js';

@Injectable()
class ProbeService implements OnModuleInit {
  readonly closed: string[] = [];
  constructor(
    @Inject(CONFIG) private readonly config: DeepInferConfig,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(BusHandlers) private readonly handlers: BusHandlers,
  ) {}
  onModuleInit(): void {
    this.state.addDetails(() => ({ maxNumSeqs: this.config.maxNumSeqs }));
    this.state.setStatsProvider(() => ({ numStepsTotal: 42 }));
    // A module's own routes, wired the one way every service does.
    this.handlers.serve(Routes.executorPing.at(this.state.instanceId), () => ({ executorId: this.state.instanceId }));
    this.handlers.listen(Routes.tokenizerClose.at(this.state.instanceId), (m) => void this.closed.push(...m.requestIds));
  }
}

@Module({ providers: [ProbeService] })
class ProbeModule {}

describe('bootstrapService', () => {
  let nats: NatsServerHandle;
  let running: RunningService;
  let port: number;

  beforeAll(async () => {
    nats = await startNatsServer();
    port = await getFreePort();
    running = await bootstrapService(
      { service: 'scheduler', module: ProbeModule, adminPort: (c) => c.schedulerAdminPort },
      { argv: ['--scheduler-admin-port', String(port), '--max-num-seqs', '7', '--host', '127.0.0.1'], env: { DEEPINFER_NATS_URL: nats.url, DEEPINFER_LOG_LEVEL: 'error' } },
    );
  });
  afterAll(async () => {
    await running?.close();
    await nats?.stop();
  });

  it('answers health over NATS with its identity and the module’s details', async () => {
    const reply = await running.bus.call(Routes.health.at('scheduler'), {}, {});
    expect(reply).toMatchObject({ service: 'scheduler', status: 'ok', instanceId: running.state.instanceId, details: { maxNumSeqs: 7 } });
  });

  it('answers stats over NATS, every instance, with the module’s snapshot', async () => {
    const replies = await running.bus.gather(Routes.stats.at('scheduler'), {}, { windowMs: 200 });
    expect(replies).toEqual([expect.objectContaining({ service: 'scheduler', instanceId: running.state.instanceId, stats: { numStepsTotal: 42 } })]);
  });

  it('serves GET /health and GET /metrics on its admin port', async () => {
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ service: 'scheduler', status: 'ok' });
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await metrics.text()).toContain('deepinfer_process_cpu_user_seconds_total{service="scheduler"}');
  });

  it('reports 503 on /health while not ready', async () => {
    running.state.setStatus('starting');
    try {
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(503);
    } finally {
      running.state.setStatus('ok');
    }
  });

  it('wires every route through BusHandlers and unsubscribes all of them at close, before the connection goes', async () => {
    const port2 = await getFreePort();
    const second = await bootstrapService(
      { service: 'executor', module: ProbeModule, adminPort: (c) => c.executorAdminPort },
      { argv: ['--executor-admin-port', String(port2), '--host', '127.0.0.1'], env: { DEEPINFER_NATS_URL: nats.url, DEEPINFER_LOG_LEVEL: 'error' } },
    );
    const client = await MessageBus.connect({ url: nats.url, name: 'client', logger: createLogger({ name: 'test', level: 'error' }) });
    try {
      expect(second.handlers.active.map((a) => a.name).sort()).toEqual(['executorPing', 'health', 'healthAll', 'stats', 'tokenizerClose']);
      expect(second.app.get(BusHandlers)).toBe(second.handlers);
      const ping = Routes.executorPing.at(second.state.instanceId);
      expect(await client.call(ping, {})).toEqual({ executorId: second.state.instanceId });
      expect(await client.call(Routes.health.at('executor'), {})).toMatchObject({ instanceId: second.state.instanceId });
      await second.close();
      expect(second.handlers.active).toEqual([]);
      await expect(client.call(ping, {}, { timeoutMs: 2000 })).rejects.toMatchObject({ code: 'unavailable' });
      await expect(client.call(Routes.health.at('executor'), {}, { timeoutMs: 2000 })).rejects.toMatchObject({ code: 'unavailable' });
      expect(() => second.handlers.listen(Routes.tokenizerClose.at('late'), () => undefined)).toThrow(/closed/);
    } finally {
      await client.close();
      await second.close();
    }
  });

  it('refuses an invalid configuration before connecting to anything', async () => {
    await expect(
      bootstrapService({ service: 'api', module: ProbeModule, adminPort: (c) => c.apiAdminPort }, { argv: ['--gpu-memory-utilization', '2'], env: {} }),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});
