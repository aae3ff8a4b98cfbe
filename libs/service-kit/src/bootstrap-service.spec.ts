import { Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { HealthReply, StatsReply, Subjects } from '@deepinfer/contracts';
import { ConfigError, type DeepInferConfig } from '@deepinfer/config';
import { getFreePort, startNatsServer, type NatsServerHandle } from '@deepinfer/testing';
import { bootstrapService, type RunningService } from './bootstrap-service.js';
import { CONFIG, SERVICE_STATE } from './service-tokens.js';
import type { ServiceState } from './service-state.js';

@Injectable()
class ProbeService implements OnModuleInit {
  constructor(
    @Inject(CONFIG) private readonly config: DeepInferConfig,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
  ) {}
  onModuleInit(): void {
    this.state.addDetails(() => ({ maxNumSeqs: this.config.maxNumSeqs }));
    this.state.setStatsProvider(() => ({ numStepsTotal: 42 }));
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
    const reply = await running.bus.request(Subjects.health('scheduler'), {}, {}, HealthReply);
    expect(reply).toMatchObject({ service: 'scheduler', status: 'ok', instanceId: running.state.instanceId, details: { maxNumSeqs: 7 } });
  });

  it('answers stats over NATS, every instance, with the module’s snapshot', async () => {
    const replies = await running.bus.gather(Subjects.stats('scheduler'), {}, { windowMs: 200 }, StatsReply);
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

  it('refuses an invalid configuration before connecting to anything', async () => {
    await expect(
      bootstrapService({ service: 'api', module: ProbeModule, adminPort: (c) => c.apiAdminPort }, { argv: ['--gpu-memory-utilization', '2'], env: {} }),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});
