import type { DeepInferConfig } from '@deepinfer/config';
import { cpuKernelPath, cpuKvCacheBlocks, cudaSettingsChanged, engineOptionsFor, loadEngine } from '@deepinfer/engine';
import type { GpuDetection } from '@deepinfer/gpu';
import type { Logger } from '@deepinfer/observability';
import { NativeStepEngine } from './native-step-engine.js';
import type { RunningEngine } from './running-engine.js';

/**
 * Loads the native engine for device cpu, cuda or auto — CUDA when nvidia-smi sees a GPU (the
 * engine then checks that its CUDA backend is built in and the device usable, and says why not).
 * On the CPU the KV cache is sized by cpu_kv_cache_space_gib; on CUDA the engine fits as many
 * blocks as gpu_memory_utilization leaves after the weights and a profiling step.
 */
export async function openNativeEngine(config: DeepInferConfig, directory: string, gpus: GpuDetection, logger: Logger): Promise<RunningEngine> {
  if (config.device === 'sim') throw new Error('openNativeEngine: device sim is the simulator');
  const backend = config.device === 'auto' ? (gpus.available ? 'auto' : 'cpu') : config.device;
  const numKvBlocks =
    backend === 'cpu' ? cpuKvCacheBlocks({ model: directory, blockSize: config.blockSize, cpuKvCacheSpaceGib: config.cpuKvCacheSpaceGib, kvCacheDtype: config.kvCacheDtype }) : undefined;
  logger.info('loading model', { model: directory, backend, blockSize: config.blockSize, numKvBlocks: numKvBlocks ?? 'fit to gpu_memory_utilization', threads: config.cpuThreads || 'all cores' });
  const engine = await loadEngine(engineOptionsFor(config, directory, backend, numKvBlocks));
  const info = engine.info;
  const onCuda = info.backend.startsWith('cuda');
  const ignored = cudaSettingsChanged(config);
  if (!onCuda && Object.keys(ignored).length > 0) {
    logger.warn('CUDA settings have no effect on the CPU backend', { backend: info.backend, ...ignored });
  }
  return {
    stepEngine: new NativeStepEngine(engine),
    info,
    device: onCuda ? `cuda:${gpus.available ? gpus.gpus[0]?.name : 'gpu'}` : `cpu:${cpuKernelPath()}`,
    cudaGraphsCaptured: () => engine.cudaGraphsCaptured,
    close: () => engine.close(),
  };
}
