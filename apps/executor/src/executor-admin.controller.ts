import os from 'node:os';
import { Controller, Get } from '@nestjs/common';
import { EngineHost } from './engine-host.js';
import { ExecutorLink } from './executor-link.js';
import { ExecutorMetrics } from './executor-metrics.js';

/** GET /executor: device, memory, model, KV blocks, the recent step-time distribution and decode-ahead counts. */
@Controller()
export class ExecutorAdminController {
  constructor(
    private readonly host: EngineHost,
    private readonly link: ExecutorLink,
    private readonly metrics: ExecutorMetrics,
  ) {}

  @Get('executor')
  executor() {
    const loaded = this.host.current;
    const info = loaded?.engine.info;
    return {
      executorId: this.link.executorId,
      epoch: this.link.epoch,
      status: loaded ? 'ready' : 'loading',
      device: loaded?.device ?? null,
      backend: info?.backend ?? null,
      backendDetails: info?.backendDetails || null,
      threads: info?.numThreads ?? null,
      gpu: this.host.gpus ?? null,
      model: loaded && info ? { name: loaded.servedModelName, directory: loaded.modelDirectory, revision: loaded.revision, architecture: info.architecture, dtype: info.weightDtype, numLayers: info.numLayers, vocabSize: info.vocabSize, maxModelLen: loaded.maxModelLen, loadSeconds: loaded.loadSeconds } : null,
      memory: { weightsBytes: info?.weightBytes ?? 0, kvCacheBytes: loaded?.kvCacheBytes ?? 0, deviceFreeBytes: info?.deviceFreeBytes ?? 0, deviceTotalBytes: info?.deviceTotalBytes ?? 0, hostFreeBytes: os.freemem(), hostTotalBytes: os.totalmem() },
      kvCache: loaded && info ? { numBlocks: loaded.numKvBlocks, blockSize: info.blockSize, bytesPerBlock: info.kvBlockBytes } : null,
      stepTimes: this.metrics.recentStepTimes.summary(),
      decodeAhead: this.link.decodeAheadStats,
    };
  }
}
