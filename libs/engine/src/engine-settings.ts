import { ConfigError, DeepInferConfig, fieldByYamlKey, fieldOf, type ConfigKey } from '@deepinfer/config';
import type { EngineSettingError } from './engine.errors.js';
import type { EngineOptions } from './engine.types.js';

/** The backend the executor asks the engine for (device `auto` becomes `cpu` without a GPU). */
export type EngineBackend = NonNullable<EngineOptions['backend']>;

/**
 * The one mapping from the configuration to the engine's options, used by the executor service
 * and by `deepinfer generate`: every engine setting goes through here, so a setting the engine
 * gets is a setting of the config table.
 */
export function engineOptionsFor(config: DeepInferConfig, model: string, backend: EngineBackend, numKvBlocks: number | undefined): EngineOptions {
  return {
    model,
    backend,
    gpuMemoryUtilization: config.gpuMemoryUtilization,
    threads: config.cpuThreads,
    blockSize: config.blockSize,
    numKvBlocks,
    maxNumBatchedTokens: config.maxNumBatchedTokens,
    seed: config.seed,
    dtype: config.dtype,
    kvCacheDtype: config.kvCacheDtype,
    cudaGraphs: config.cudaGraphs,
    cudaPrefillAttn: config.cudaPrefillAttn,
    cudaDecodeAttn: config.cudaDecodeAttn,
    cudaGemm: config.cudaGemm,
    cublasPath: config.cublasPath,
  };
}

/** Settings only the CUDA backend reads (the CPU backend sizes its KV cache by cpu_kv_cache_space_gib). */
export const CUDA_ONLY_SETTINGS = ['gpuMemoryUtilization', 'cudaGraphs', 'cudaPrefillAttn', 'cudaDecodeAttn', 'cudaGemm', 'cublasPath'] as const satisfies readonly ConfigKey[];

/** The CUDA-only settings changed from their defaults, by YAML key (to warn that a CPU engine ignores them). */
export function cudaSettingsChanged(config: DeepInferConfig): Record<string, unknown> {
  const defaults = new DeepInferConfig();
  const changed: Record<string, unknown> = {};
  for (const key of CUDA_ONLY_SETTINGS) {
    if (config[key] !== defaults[key]) changed[fieldOf(key).yamlKey] = config[key];
  }
  return changed;
}

/**
 * A setting the engine refused at load, as the configuration error it is (exit status 2: a
 * restart cannot help). The engine names fields like the YAML keys, except `backend`, which the
 * configuration calls `device`.
 */
export function settingErrorToConfigError(error: EngineSettingError, config: DeepInferConfig): ConfigError {
  const yamlKey = error.field === 'backend' ? 'device' : error.field;
  const field = fieldByYamlKey(yamlKey);
  return new ConfigError([{ field: yamlKey, value: field ? config[field.key] : undefined, source: 'the engine, at load', allowed: error.message }]);
}
