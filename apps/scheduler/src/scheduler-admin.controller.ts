import { ConflictException, Controller, Get, HttpCode, Inject, Post, UseGuards } from '@nestjs/common';
import type { EngineLoop, EngineLoopStats } from '@deepinfer/scheduler-core';
import { AdminKeyGuard, SERVICE_STATE } from '@deepinfer/service-kit';
import type { ServiceState } from '@deepinfer/service-kit';
import { ENGINE_LOOP, REPLICA_ID } from './scheduler-options.js';

/**
 * The scheduler's own admin routes, beside /health and /metrics: a stats snapshot (open, like
 * /metrics) and the state-changing operations (behind the admin key when one is set).
 */
@Controller()
export class SchedulerAdminController {
  constructor(
    @Inject(ENGINE_LOOP) private readonly loop: EngineLoop,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(REPLICA_ID) private readonly replicaId: string,
  ) {}

  /** Queue, batch, KV cache and prefix-cache state, step rate and distributions, the executor. */
  @Get('stats')
  stats(): EngineLoopStats & { instanceId: string; replicaId: string } {
    return { instanceId: this.state.instanceId, replicaId: this.replicaId, ...this.loop.stats() };
  }

  /** Forgets every cached prefix; 409 while requests hold blocks (retry when idle, or drain first). */
  @Post('reset_prefix_cache')
  @HttpCode(200)
  @UseGuards(AdminKeyGuard)
  resetPrefixCache(): { reset: true } {
    if (!this.loop.resetPrefixCache()) {
      throw new ConflictException({
        error: { message: 'requests are running; the prefix cache can be reset only when no block is held (drain first)', type: 'conflict', param: null, code: 'blocks_in_use' },
      });
    }
    return { reset: true };
  }

  /** Refuses new submits (`overloaded`); accepted requests run to completion. */
  @Post('drain')
  @HttpCode(200)
  @UseGuards(AdminKeyGuard)
  drain(): { draining: boolean; numRunningRequests: number; numWaitingRequests: number } {
    this.loop.setDraining(true);
    return { draining: true, numRunningRequests: this.loop.numRunningRequests, numWaitingRequests: this.loop.numWaitingRequests };
  }

  @Post('resume')
  @HttpCode(200)
  @UseGuards(AdminKeyGuard)
  resume(): { draining: boolean } {
    this.loop.setDraining(false);
    return { draining: false };
  }
}
