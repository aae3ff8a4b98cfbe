import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG_ERROR_EXIT_CODE, ConfigError, DeepInferConfig, defaultServedModelName, fieldOf } from '@deepinfer/config';
import { EngineSettingError, settingErrorToConfigError } from '@deepinfer/engine';
import { detectGpus, type GpuDetection } from '@deepinfer/gpu';
import { ensureModel } from '@deepinfer/model-hub';
import type { Logger } from '@deepinfer/observability';
import { CONFIG, LOGGER, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { openNativeEngine } from './native-engine-backend.js';
import type { RunningEngine } from './running-engine.js';
import { openSimulatedEngine } from './simulated-engine-backend.js';

/** Settings of the simulated device, by config key (a warning when they are set for another device). */
const SIM_SETTINGS = ['simProfile', 'simBandwidthGbps', 'simTflops', 'simMemoryGib'] as const;

/** The loaded model and what the executor reports about it. */
export interface LoadedEngine {
  engine: RunningEngine;
  modelDirectory: string;
  servedModelName: string;
  /** Digest of config.json, generation_config.json and the weight files' names and sizes. */
  revision: string;
  maxModelLen: number;
  numKvBlocks: number;
  kvCacheBytes: number;
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
      device: this.loaded?.engine.device ?? 'loading',
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
    const started = performance.now();
    if (config.device !== 'sim') {
      const defaults = new DeepInferConfig();
      const ignored = SIM_SETTINGS.filter((key) => config[key] !== defaults[key]).map((key) => fieldOf(key).yamlKey);
      if (ignored.length > 0) logger.warn('sim settings have no effect without device sim', { device: config.device, settings: ignored.join(',') });
    }
    const engine = config.device === 'sim' ? await openSimulatedEngine(config, directory, logger) : await openNativeEngine(config, directory, this.gpus, logger);
    const info = engine.info;
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
      device: engine.device,
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
