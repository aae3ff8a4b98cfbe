import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG_ERROR_EXIT_CODE, ConfigError, defaultServedModelName, type DeepInferConfig } from '@deepinfer/config';
import { cpuKernelPath, cpuKvCacheBlocks, EngineSettingError, loadEngine, type Engine } from '@deepinfer/engine';
import { detectGpus, type GpuDetection } from '@deepinfer/gpu';
import { ensureModel } from '@deepinfer/model-hub';
import type { Logger } from '@deepinfer/observability';
import { CONFIG, LOGGER, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { cudaSettingsChanged, engineOptionsFor, settingErrorToConfigError } from './engine-options.js';

/** The loaded model and what the executor reports about it. */
export interface LoadedEngine {
  engine: Engine;
  modelDirectory: string;
  servedModelName: string;
  /** Digest of config.json, generation_config.json and the weight files' names and sizes. */
  revision: string;
  maxModelLen: number;
  numKvBlocks: number;
  kvCacheBytes: number;
  device: string;
  loadSeconds: number;
}

/**
 * Owns the engine: loads the configured model after the service is up (so /health answers
 * `starting` meanwhile), sizes the KV cache, and frees it at shutdown. Loading failures stop
 * the process: an executor without a model is useless, and the launcher or compose restarts it.
 */
@Injectable()
export class EngineHost implements OnApplicationBootstrap, OnApplicationShutdown {
  private loaded: LoadedEngine | undefined;
  private readonly listeners: ((e: LoadedEngine) => void)[] = [];
  gpus: GpuDetection | undefined;

  constructor(
    @Inject(CONFIG) private readonly config: DeepInferConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
  ) {
    state.addDetails(() => ({
      device: this.loaded?.device ?? 'loading',
      model: this.loaded?.servedModelName,
      numKvBlocks: this.loaded?.numKvBlocks,
      gpu: this.gpus,
    }));
  }

  get current(): LoadedEngine | undefined {
    return this.loaded;
  }

  /** Calls `listener` once the engine is loaded (at once if it already is). */
  onLoaded(listener: (e: LoadedEngine) => void): void {
    if (this.loaded) listener(this.loaded);
    else this.listeners.push(listener);
  }

  onApplicationBootstrap(): void {
    void this.load().catch((err: unknown) => {
      // A setting the engine refused (kv_cache_dtype it cannot store, cuda_gemm=cublas without
      // cuBLAS) is a configuration error: exit 2, which the launcher does not restart.
      // So is a model that is nowhere to be found (ConfigError on `model`, from ensureModel).
      const configError = err instanceof EngineSettingError ? settingErrorToConfigError(err, this.config) : err instanceof ConfigError ? err : undefined;
      if (configError) {
        this.logger.error('invalid configuration', { err: configError.message });
        process.stderr.write(`deepinfer executor: ${configError.message}\n`);
        process.exit(CONFIG_ERROR_EXIT_CODE);
      }
      this.logger.error('cannot load the model', { err: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    });
  }

  onApplicationShutdown(): void {
    this.loaded?.engine.close();
  }

  private async load(): Promise<void> {
    const { config, logger } = this;
    this.gpus = await detectGpus();
    const { directory } = await ensureModel(config.model, { logger });
    // device: cpu, cuda, or auto — CUDA when nvidia-smi sees a GPU (the engine then checks that
    // its CUDA backend is built in and the device usable, and says why not). On the CPU the KV
    // cache is sized by cpu_kv_cache_space_gib; on CUDA the engine fits as many blocks as
    // gpu_memory_utilization leaves after the weights and a profiling step.
    const backend = config.device === 'auto' ? (this.gpus.available ? 'auto' : 'cpu') : config.device;
    const started = performance.now();
    const numKvBlocks =
      backend === 'cpu' ? cpuKvCacheBlocks({ model: directory, blockSize: config.blockSize, cpuKvCacheSpaceGib: config.cpuKvCacheSpaceGib }) : undefined;
    logger.info('loading model', { model: directory, backend, blockSize: config.blockSize, numKvBlocks: numKvBlocks ?? 'fit to gpu_memory_utilization', threads: config.cpuThreads || 'all cores' });
    const engine = await loadEngine(engineOptionsFor(config, directory, backend, numKvBlocks));
    const info = engine.info;
    const ignored = cudaSettingsChanged(config);
    if (!info.backend.startsWith('cuda') && Object.keys(ignored).length > 0) {
      logger.warn('CUDA settings have no effect on the CPU backend', { backend: info.backend, ...ignored });
    }
    const loadSeconds = (performance.now() - started) / 1000;
    const maxModelLen = Math.min(config.maxModelLen ?? info.maxPositionEmbeddings, info.maxPositionEmbeddings, info.numKvBlocks * info.blockSize);
    if (config.maxModelLen !== undefined && config.maxModelLen > maxModelLen) {
      logger.warn('max_model_len is larger than the model or the KV cache allows; capped', { asked: config.maxModelLen, used: maxModelLen });
    }
    this.loaded = {
      engine,
      modelDirectory: directory,
      servedModelName: config.servedModelName ?? defaultServedModelName(config.model),
      revision: modelRevision(directory),
      maxModelLen,
      numKvBlocks: info.numKvBlocks,
      kvCacheBytes: info.numKvBlocks * info.kvBlockBytes,
      device: info.backend.startsWith('cuda') ? `cuda:${this.gpus.available ? this.gpus.gpus[0]?.name : 'gpu'}` : `cpu:${cpuKernelPath()}`,
      loadSeconds,
    };
    logger.info('model loaded', {
      architecture: info.architecture,
      dtype: info.dtype,
      checkpointDtype: info.weightDtype,
      kvCacheDtype: info.kvCacheDtype,
      layers: info.numLayers,
      weightBytes: info.weightBytes,
      kvCacheBytes: this.loaded.kvCacheBytes,
      seconds: Math.round(loadSeconds * 1000) / 1000,
      device: this.loaded.device,
    });
    for (const listener of this.listeners.splice(0)) listener(this.loaded);
  }
}

/** A cheap identity of the weights: any change of files, sizes or config changes it. */
function modelRevision(directory: string): string {
  const hash = crypto.createHash('sha256');
  for (const name of fs.readdirSync(directory).sort()) {
    const file = path.join(directory, name);
    if (name.endsWith('.json')) hash.update(name).update(fs.readFileSync(file));
    else if (name.endsWith('.safetensors')) hash.update(`${name}:${fs.statSync(file).size}`);
  }
  return hash.digest('hex').slice(0, 16);
}
