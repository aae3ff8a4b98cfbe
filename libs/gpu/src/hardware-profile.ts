import type { GpuInfo } from './gpu-info.types.js';

/** A tuned engine configuration for one exact GPU model. */
export interface HardwareProfile {
  id: 'nvidia_5090' | 'nvidia_4090';
  /** Names exactly as nvidia-smi prints them; no prefix or substring matching. */
  gpuNames: readonly string[];
  /** File name in configs/, e.g. 'nvidia_5090.yaml'. */
  configFile: string;
  description: string;
}

/**
 * Matching is exact because near-miss names are different hardware: the RTX 5090 D is
 * export-limited in AI throughput (the D v2 also has 24 GB), the RTX 5080 has half the memory and
 * the "Laptop GPU" parts less memory and a fraction of the power, so the 5090's batch sizes and
 * memory budget would be wrong (or run out of memory) on any of them. They get generic defaults.
 */
export const HARDWARE_PROFILES: readonly HardwareProfile[] = [
  {
    id: 'nvidia_5090',
    gpuNames: ['NVIDIA GeForce RTX 5090'],
    configFile: 'nvidia_5090.yaml',
    description: 'GeForce RTX 5090 (Blackwell, compute capability 12.0, 32 GB GDDR7)',
  },
  {
    id: 'nvidia_4090',
    gpuNames: ['NVIDIA GeForce RTX 4090'],
    configFile: 'nvidia_4090.yaml',
    description: 'GeForce RTX 4090 (Ada Lovelace, compute capability 8.9, 24 GB GDDR6X)',
  },
];

/** The profile tuned for exactly this GPU model, if any. Surrounding whitespace is ignored. */
export function profileForGpu(gpu: Pick<GpuInfo, 'name'>): HardwareProfile | undefined {
  const name = gpu.name.trim();
  return HARDWARE_PROFILES.find((profile) => profile.gpuNames.includes(name));
}

/**
 * The profile for the GPU the engine will run on, which is the first one listed. The engine opens
 * CUDA device 0; pass the list narrowed by `visibleGpus(gpus, process.env.CUDA_VISIBLE_DEVICES)`
 * when that variable is set, since nvidia-smi itself ignores it and lists every GPU.
 * Other GPUs are ignored: the engine runs on a single device.
 */
export function matchHardwareProfile(gpus: readonly GpuInfo[]): HardwareProfile | undefined {
  const engineGpu = gpus[0];
  return engineGpu ? profileForGpu(engineGpu) : undefined;
}
