import { Module } from '@nestjs/common';
import { ROUTE_INSTANCES, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { EngineHost } from './engine-host.js';
import { ExecutorAdminController } from './executor-admin.controller.js';
import { ExecutorLink } from './executor-link.js';
import { ExecutorMetrics } from './executor-metrics.js';
import { ExecutorReport } from './executor-report.js';
import { ExecutorRoutes } from './executor.routes.js';

/**
 * The executor service: hosts the engine (weights and the physical KV cache) and runs the steps
 * the scheduler sends. It never decides which requests run.
 */
@Module({
  controllers: [ExecutorAdminController, ExecutorRoutes],
  providers: [
    EngineHost,
    ExecutorMetrics,
    ExecutorLink,
    ExecutorReport,
    // Its step and ping routes are at its own id.
    { provide: ROUTE_INSTANCES, useFactory: (state: ServiceState) => ({ executorId: state.instanceId }), inject: [SERVICE_STATE] },
  ],
})
export class ExecutorModule {}
