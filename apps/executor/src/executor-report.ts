import os from 'node:os';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { fieldOf, type DeepInferConfig } from '@deepinfer/config';
import { CONFIG, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { EngineHost } from './engine-host.js';
import { ExecutorLink } from './executor-link.js';
import { ExecutorMetrics } from './executor-metrics.js';

/** The settings the executor acts on, shown by GET /executor under their YAML names. */
const EXECUTOR_SETTINGS = [
  'device', 'dtype', 'kvCacheDtype', 'blockSize', 'gpuMemoryUtilization', 'cpuKvCacheSpaceGib', 'cpuThreads', 'maxNumBatchedTokens', 'seed',
  'cudaGraphs', 'cudaPrefillAttn', 'cudaDecodeAttn', 'cudaGemm', 'cublasPath', 'decodeAheadMaxSeqs', 'guidedDecodingWorkers',
  'simProfile', 'simBandwidthGbps', 'simTflops', 'simMemoryGib',
] as const;

/**
 * The executor's admin snapshot: device, memory, model (served and checkpoint dtypes), KV blocks
 * and their dtype, CUDA graphs captured so far, the engine settings in effect, the backend's own choices, the recent
 * step-time distribution and decode-ahead counts. GET /executor serves it, and so does
 * the route Routes.stats at the executor (the api's console gathers it over NATS).
 */
@Injectable()
export class ExecutorReport implements OnModuleInit {
  constructor(
    @Inject(CONFIG) private readonly config: DeepInferConfig,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    private readonly host: EngineHost,
    private readonly link: ExecutorLink,
    private readonly metrics: ExecutorMetrics,
  ) {}

  onModuleInit(): void {
    this.state.setStatsProvider(() => this.report());
  }

  report() {
    const loaded = this.host.current;
    const info = loaded?.engine.info;
    return {
      executorId: this.link.executorId,
      epoch: this.link.epoch,
      status: loaded ? 'ready' : 'loading',
      device: loaded?.engine.device ?? null,
      backend: info?.backend ?? null,
      backendDetails: info?.backendDetails || null,
      cudaGraphsCaptured: loaded?.engine.cudaGraphsCaptured?.() ?? 0,
      threads: info?.numThreads ?? null,
      gpu: this.host.gpus ?? null,
      model: loaded && info ? { name: loaded.servedModelName, directory: loaded.modelDirectory, revision: loaded.revision, architecture: info.architecture, dtype: info.dtype, checkpointDtype: info.weightDtype, quantization: info.weightQuantization || null, numLayers: info.numLayers, vocabSize: info.vocabSize, maxModelLen: loaded.maxModelLen, loadSeconds: loaded.loadSeconds } : null,
      memory: { weightsBytes: info?.weightBytes ?? 0, kvCacheBytes: loaded?.kvCacheBytes ?? 0, deviceFreeBytes: info?.deviceFreeBytes ?? 0, deviceTotalBytes: info?.deviceTotalBytes ?? 0, hostFreeBytes: os.freemem(), hostTotalBytes: os.totalmem() },
      kvCache: loaded && info ? { numBlocks: loaded.numKvBlocks, blockSize: info.blockSize, bytesPerBlock: info.kvBlockBytes, dtype: info.kvCacheDtype } : null,
      settings: Object.fromEntries(EXECUTOR_SETTINGS.map((key) => [fieldOf(key).yamlKey, this.config[key] ?? null])),
      stepTimes: this.metrics.recentStepTimes.summary(),
      decodeAhead: this.link.decodeAheadStats,
      // Guided decoding: mask time per token (the grammar's accept + next mask), how long
      // sampling waited for the masks after the forward pass (0: fully overlapped), and the
      // worker threads (extra ones start for compiles while every worker computes masks).
      guidedDecoding: {
        workers: this.link.numGuideWorkers,
        workerLoad: this.link.guideWorkerLoad,
        workerThreads: this.link.guideWorkerStats ?? null,
        maskTimePerToken: this.metrics.recentMaskTimes.summary(),
        maskWaitAfterForward: this.metrics.recentMaskWaits.summary(),
      },
      // device sim only: the simulated GPU's counters; busyMs is modelled device time, so its
      // rate over wall time is the device's utilisation (what the serving benchmark reports).
      simulator: loaded?.engine.simulator ? { profile: loaded.engine.simulator.profile, ...loaded.engine.simulator.stats() } : null,
    };
  }
}
