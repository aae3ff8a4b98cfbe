import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { REPLICA_STATUS_INTERVAL_MS, Routes, type ReplicaStatusMessage } from '@deepinfer/contracts';
import type { DeepInferConfig } from '@deepinfer/config';
import type { MessageBus } from '@deepinfer/messaging';
import type { Logger } from '@deepinfer/observability';
import type { KvEventBatcher } from '@deepinfer/kv-router';
import type { EngineLoop } from '@deepinfer/scheduler-core';
import { CONFIG, LOGGER, MESSAGE_BUS, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { ENGINE_LOOP, KV_EVENTS, REPLICA_ID } from './scheduler-options.js';

/** How often the executor's liveness is checked (heartbeat silence, ping). */
const EXECUTOR_CHECK_INTERVAL_MS = 250;

/**
 * The scheduler's face to the routers (docs/architecture.md, "Scale-out"): its status (heartbeat
 * and load) every 250 ms and at once when its executor comes or goes, its prefix-cache events
 * (KvEventBatcher, fed by the EngineLoop's prefix caches), a full resync when a router asks
 * (resync), and
 * the executor liveness check that ends a dead executor's session in a few hundred ms.
 */
@Injectable()
export class ReplicaLinkService implements OnModuleInit, OnApplicationShutdown {
  private statusTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private lastHadExecutor = false;
  private checking = false;

  constructor(
    @Inject(CONFIG) private readonly config: DeepInferConfig,
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(ENGINE_LOOP) private readonly loop: EngineLoop,
    @Inject(KV_EVENTS) private readonly kvEvents: KvEventBatcher,
    @Inject(REPLICA_ID) private readonly replicaId: string,
  ) {}

  onModuleInit(): void {
    this.statusTimer = setInterval(() => this.publishStatus(), REPLICA_STATUS_INTERVAL_MS);
    this.statusTimer.unref();
    this.checkTimer = setInterval(() => void this.checkExecutor(), EXECUTOR_CHECK_INTERVAL_MS);
    this.checkTimer.unref();
    this.state.addDetails(() => ({ replicaId: this.replicaId }));
    this.publishStatus();
  }

  onApplicationShutdown(): void {
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
  }

  /** A router asked for the full hash set (Routes.replicaKvResync, wired in SchedulerMessagingService). */
  resync(routerInstanceId: string): void {
    const hashes = this.loop.cachedBlockHashes();
    this.logger.debug('kv events resync', { router: routerInstanceId, numHashes: hashes.length });
    this.kvEvents.resync(hashes);
    this.publishStatus();
  }

  /** Called on registration too, so routers learn of a new executor within a message hop. */
  publishStatus(): void {
    // Events first: the status's kvEventSeq must never run ahead of what was published.
    this.kvEvents.flush();
    const stats = this.loop.stats();
    const executor = stats.executor;
    const load = this.loop.load();
    const identity = this.loop.cacheIdentity;
    this.lastHadExecutor = executor !== null;
    const status: ReplicaStatusMessage = {
      replicaId: this.replicaId,
      schedulerInstanceId: this.state.instanceId,
      hasExecutor: executor !== null,
      draining: stats.draining,
      ...(executor ? { executorId: executor.executorId, device: executor.device, modelName: executor.modelName } : {}),
      ...(identity ? { modelCacheKey: identity.modelCacheKey, blockSize: identity.blockSize } : {}),
      numRunning: load.numRunning,
      numWaiting: load.numWaiting,
      numFreeBlocks: load.numFreeBlocks,
      numBlocks: load.numBlocks,
      maxNumSeqs: this.config.maxNumSeqs,
      kvEventSeq: this.kvEvents.seq,
      schedulerAdminPort: this.config.schedulerAdminPort,
    };
    try {
      this.bus.emit(Routes.replicaStatus.at(this.replicaId), status);
    } catch (err) {
      this.logger.debug('cannot publish the replica status', { err: (err as Error).message });
    }
  }

  private async checkExecutor(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await this.loop.checkExecutor();
    } finally {
      this.checking = false;
    }
    if (this.lastHadExecutor !== this.loop.hasExecutor) this.publishStatus();
  }
}
