import { Module } from '@nestjs/common';
import { EngineHost } from './engine-host.js';
import { ExecutorAdminController } from './executor-admin.controller.js';
import { ExecutorLink } from './executor-link.js';
import { ExecutorMetrics } from './executor-metrics.js';
import { ExecutorReport } from './executor-report.js';

/**
 * The executor service: hosts the engine (weights and the physical KV cache) and runs the steps
 * the scheduler sends. It never decides which requests run.
 */
@Module({
  controllers: [ExecutorAdminController],
  providers: [EngineHost, ExecutorMetrics, ExecutorLink, ExecutorReport],
})
export class ExecutorModule {}
