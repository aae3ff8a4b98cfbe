import type { GpuInfo } from './gpu-info.types.js';

/**
 * The GPUs a CUDA process will see, in CUDA's order, given CUDA_VISIBLE_DEVICES (nvidia-smi
 * ignores the variable and always lists every GPU).
 *
 * - unset: every GPU; empty: none.
 * - entries are nvidia-smi indices or GPU UUIDs ("GPU-…", any unique prefix, as CUDA accepts);
 *   like CUDA, reading stops at the first entry that names no GPU, so "1,7,0" with two GPUs
 *   exposes only GPU 1. MIG instance UUIDs ("MIG-…") cannot be mapped to a GPU line and stop
 *   the list too. Repeated entries are skipped.
 * - Numeric entries are matched to nvidia-smi's PCI-bus order, which CUDA only follows when
 *   CUDA_DEVICE_ORDER=PCI_BUS_ID; by default CUDA orders fastest first, so on mixed machines only
 *   UUIDs are unambiguous.
 */
export function visibleGpus(gpus: readonly GpuInfo[], cudaVisibleDevices?: string): GpuInfo[] {
  if (cudaVisibleDevices === undefined) return [...gpus];
  const visible: GpuInfo[] = [];
  for (const entry of cudaVisibleDevices.split(',').map((part) => part.trim())) {
    const gpu = findGpu(gpus, entry);
    if (!gpu) break;
    if (!visible.includes(gpu)) visible.push(gpu);
  }
  return visible;
}

/** The GPU the engine will use: CUDA device 0 under the given CUDA_VISIBLE_DEVICES. */
export function selectGpu(gpus: readonly GpuInfo[], cudaVisibleDevices?: string): GpuInfo | undefined {
  return visibleGpus(gpus, cudaVisibleDevices)[0];
}

function findGpu(gpus: readonly GpuInfo[], entry: string): GpuInfo | undefined {
  if (/^\d+$/.test(entry)) return gpus.find((gpu) => gpu.index === Number(entry));
  if (!/^GPU-[0-9a-f-]+$/i.test(entry)) return undefined;
  const prefix = entry.toLowerCase();
  const matches = gpus.filter((gpu) => gpu.uuid?.toLowerCase().startsWith(prefix));
  // An ambiguous prefix names no device in particular; CUDA treats it as invalid.
  return matches.length === 1 ? matches[0] : undefined;
}
