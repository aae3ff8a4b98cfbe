import crypto from 'node:crypto';
import type { HealthReply, HealthStatus, ServiceName, StatsReply } from '@deepinfer/contracts';

/**
 * A service's identity and readiness, shared by its NATS health handler and its admin HTTP
 * /health route so the two always agree. Framework-free.
 */
export class ServiceState {
  /** Unique per process start. */
  readonly instanceId: string;
  private readonly startedAtMs = Date.now();
  private status: HealthStatus = 'starting';
  private readonly detailProviders: (() => Record<string, unknown>)[] = [];
  private readinessProbe: (() => Promise<HealthReply>) | undefined;
  private statsProvider: (() => Record<string, unknown>) | undefined;

  constructor(
    readonly service: ServiceName,
    readonly version: string,
  ) {
    this.instanceId = `${service}-${crypto.randomBytes(4).toString('hex')}`;
  }

  setStatus(status: HealthStatus): void {
    this.status = status;
  }

  /** Adds facts to every health answer (model, device, queue length, ...). */
  addDetails(provider: () => Record<string, unknown>): void {
    this.detailProviders.push(provider);
  }

  /**
   * A deeper readiness check for the admin HTTP /health (the api's: every service answers).
   * Without one, /health reports `health()`.
   */
  setReadinessProbe(probe: () => Promise<HealthReply>): void {
    this.readinessProbe = probe;
  }

  /**
   * The service's admin snapshot, answered on Routes.stats (the same body as its
   * admin HTTP route: the scheduler's /stats, the executor's /executor). Without one, `{}`.
   */
  setStatsProvider(provider: () => Record<string, unknown>): void {
    this.statsProvider = provider;
  }

  stats(): StatsReply {
    return { service: this.service, instanceId: this.instanceId, stats: this.statsProvider?.() ?? {} };
  }

  checkReadiness(): Promise<HealthReply> {
    return this.readinessProbe ? this.readinessProbe() : Promise.resolve(this.health());
  }

  health(): HealthReply {
    const details = Object.assign({}, ...this.detailProviders.map((p) => p())) as Record<string, unknown>;
    return {
      service: this.service,
      instanceId: this.instanceId,
      status: this.status,
      uptimeSeconds: Math.round((Date.now() - this.startedAtMs) / 100) / 10,
      version: this.version,
      details,
    };
  }
}
