import crypto from 'node:crypto';
import type { HealthReply, HealthStatus, ServiceName } from '@deepinfer/contracts';

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
