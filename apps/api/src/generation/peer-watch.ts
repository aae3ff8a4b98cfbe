import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Routes, type HealthReply, type ServiceName } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import type { Logger } from '@deepinfer/observability';
import { LOGGER, MESSAGE_BUS, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { DeltaRouter } from './delta-router.js';
import { ReplicaRouter } from './replica-router.js';

const PEERS: readonly ServiceName[] = ['tokenizer', 'scheduler', 'executor'];
const PROBE_INTERVAL_MS = 1000;
const PROBE_TIMEOUT_MS = 1000;
/** Consecutive failed probes before in-flight requests are failed (≈ 2–3 s after a death). */
const FAILURES_BEFORE_DOWN = 2;

/**
 * Watches the services a streaming request depends on. A request waits for deltas that only a
 * live tokenizer and scheduler can send; when either stops answering health, every in-flight
 * request ends with an error instead of hanging. (A dead executor is the scheduler's to report:
 * it fails its in-flight requests itself.) Also the api's HTTP readiness: ready when all answer.
 */
@Injectable()
export class PeerWatch implements OnModuleInit, OnApplicationShutdown {
  private readonly failures = new Map<ServiceName, number>(PEERS.map((p) => [p, 0]));
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly router: DeltaRouter,
    private readonly replicas: ReplicaRouter,
  ) {}

  onModuleInit(): void {
    this.state.setReadinessProbe(() => this.readiness());
    this.timer = setInterval(() => void this.probe(), PROBE_INTERVAL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async probe(): Promise<void> {
    await Promise.all(
      (['tokenizer', 'scheduler'] as const).map(async (peer) => {
        const ok = await this.ask(peer).then((r) => r !== undefined);
        const failures = ok ? 0 : this.failures.get(peer)! + 1;
        this.failures.set(peer, failures);
        if (failures === FAILURES_BEFORE_DOWN) this.logger.warn('a service stopped answering', { service: peer });
        if (failures >= FAILURES_BEFORE_DOWN) this.router.failAll(`the ${peer} service is not answering`);
      }),
    );
  }

  private ask(peer: ServiceName): Promise<HealthReply | undefined> {
    return this.bus.call(Routes.health.at(peer), {}, { timeoutMs: PROBE_TIMEOUT_MS }).catch(() => undefined);
  }

  /**
   * Ready when every service answers `ok` and at least one replica can take requests (a scheduler
   * with an executor registered: from the router's view, else from a scheduler's health reply).
   * `replicas` lists every replica the router knows.
   */
  async readiness(): Promise<HealthReply> {
    const replies = await Promise.all(PEERS.map((p) => this.ask(p)));
    const services: Record<string, string> = Object.fromEntries(PEERS.map((p, i) => [p, replies[i]?.status ?? 'not answering']));
    const schedulerHasExecutor = this.replicas.router.numRoutable > 0 || Boolean(replies[PEERS.indexOf('scheduler')]?.details?.['executor']);
    if (services['scheduler'] === 'ok' && !schedulerHasExecutor) services['scheduler'] = 'no executor registered';
    const own = this.state.health();
    const allOk = own.status === 'ok' && replies.every((r) => r?.status === 'ok') && schedulerHasExecutor;
    const replicas = this.replicas.views().map((r) => ({
      replicaId: r.replicaId,
      status: !r.hasExecutor ? 'no executor registered' : r.draining ? 'draining' : 'ok',
      device: r.device,
      numRunning: r.numRunning,
      numWaiting: r.numWaiting,
      kvCacheUsage: r.numBlocks > 0 ? Number(((r.numBlocks - r.numFreeBlocks) / r.numBlocks).toFixed(3)) : 0,
      numIndexedBlocks: r.numIndexedBlocks,
      numRoutedTotal: r.numRoutedTotal,
    }));
    return { ...own, status: allOk ? 'ok' : own.status === 'ok' ? 'degraded' : own.status, details: { ...own.details, services, router: this.replicas.router.policy, replicas } };
  }
}
