import { Controller, Inject } from '@nestjs/common';
import { Routes, type HealthReply, type StatsReply } from '@deepinfer/contracts';
import { SERVICE_STATE } from '../service-tokens.js';
import type { ServiceState } from '../service-state.js';
import { ServeRoute } from './route-decorators.js';

/**
 * The routes every service serves, at its own service name: health (queue group: one instance
 * answers), health of every instance and the stats snapshot (no queue group: all answer).
 */
@Controller()
export class ServiceRoutesController {
  constructor(@Inject(SERVICE_STATE) private readonly state: ServiceState) {}

  @ServeRoute(Routes.health)
  health(): HealthReply {
    return this.state.health();
  }

  @ServeRoute(Routes.healthAll)
  healthOfEveryInstance(): HealthReply {
    return this.state.health();
  }

  @ServeRoute(Routes.stats)
  stats(): StatsReply {
    return this.state.stats();
  }
}
