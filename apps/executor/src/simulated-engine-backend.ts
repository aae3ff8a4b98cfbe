import { ConfigError, DeepInferConfig, fieldOf } from '@deepinfer/config';
import { CUDA_ONLY_SETTINGS } from '@deepinfer/engine';
import type { Logger } from '@deepinfer/observability';
import { SimulatedDevice, simProfile } from '@deepinfer/sim-device';
import type { RunningEngine } from './running-engine.js';

/**
 * Settings the simulator has no use for: the CPU backend's and the CUDA kernel choices (it does
 * model gpu_memory_utilization, for its KV memory plan).
 */
const IGNORED_BY_THE_SIMULATOR = ['cpuThreads', 'cpuKvCacheSpaceGib', ...CUDA_ONLY_SETTINGS.filter((key) => key !== 'gpuMemoryUtilization')] as const;

/**
 * device: sim — the simulated GPU of libs/sim-device, a MEASURING INSTRUMENT: the executor's
 * books, the scheduler protocol, KV block accounting and the prefix cache are the real ones, but
 * each step takes the time the profile's step-time model gives and its tokens are fingerprints
 * of the context, not a model's output. It needs config.json and a tokenizer, no weights.
 * dtype and kv_cache_dtype other than auto/bfloat16 are refused: the model is bf16.
 */
export async function openSimulatedEngine(config: DeepInferConfig, directory: string, logger: Logger): Promise<RunningEngine> {
  const refused = (['dtype', 'kvCacheDtype'] as const).filter((key) => config[key] !== 'auto' && config[key] !== 'bfloat16');
  if (refused.length > 0) {
    throw new ConfigError(refused.map((key) => ({ field: fieldOf(key).yamlKey, value: config[key], source: 'the configuration', allowed: 'auto or bfloat16 with device sim (the simulator models a bf16 model)' })));
  }
  const defaults = new DeepInferConfig();
  const ignored = Object.fromEntries(IGNORED_BY_THE_SIMULATOR.filter((key) => config[key] !== defaults[key]).map((key) => [fieldOf(key).yamlKey, config[key]]));
  if (Object.keys(ignored).length > 0) logger.warn('these settings have no effect on the simulated device', ignored);

  const profile = simProfile(config.simProfile, { bandwidthGBps: config.simBandwidthGbps, tflops: config.simTflops, memoryGib: config.simMemoryGib });
  const device = await SimulatedDevice.create({
    model: directory,
    profile,
    blockSize: config.blockSize,
    gpuMemoryUtilization: config.gpuMemoryUtilization,
    maxNumBatchedTokens: config.maxNumBatchedTokens,
    seed: config.seed,
  });
  logger.warn('device sim: a simulated GPU (step-time model); a measuring instrument, its tokens are not a model\'s output', {
    profile: profile.name,
    card: profile.deviceName,
    numKvBlocks: device.info.numKvBlocks,
    details: device.info.backendDetails,
  });
  return {
    stepEngine: device,
    info: device.info,
    device: `sim:${profile.name}`,
    simulator: { profile: profile.name, stats: () => ({ ...device.stats }) },
    close: () => device.close(),
  };
}
