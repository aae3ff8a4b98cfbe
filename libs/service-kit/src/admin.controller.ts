import { Controller, Get, Header, HttpCode, Inject, Res } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { METRICS_REGISTRY, SERVICE_STATE } from './service-tokens.js';
import type { ServiceState } from './service-state.js';

/** Minimal response surface we use (keeps express types out of the public API). */
interface StatusResponse {
  status(code: number): { json(body: unknown): void };
}

/** Every service's admin HTTP: GET /health (200 ok, 503 otherwise) and GET /metrics (Prometheus). */
@Controller()
export class AdminController {
  constructor(
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  @Get('health')
  async health(@Res() res: StatusResponse): Promise<void> {
    const health = await this.state.checkReadiness();
    res.status(health.status === 'ok' ? 200 : 503).json(health);
  }

  @Get('metrics')
  @HttpCode(200)
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
