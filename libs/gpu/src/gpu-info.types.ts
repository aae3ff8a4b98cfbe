/** One GPU as nvidia-smi reports it. Values nvidia-smi cannot report (`[N/A]`, `[Not Supported]`) are null. */
export interface GpuInfo {
  /** nvidia-smi's index: PCI bus order, which is not CUDA's default order (see cuda-visible-devices.ts). */
  index: number;
  /** Marketing name exactly as nvidia-smi prints it, e.g. "NVIDIA GeForce RTX 5090". */
  name: string;
  /** "GPU-xxxxxxxx-…"; the only identifier that means the same thing to nvidia-smi and CUDA. */
  uuid: string | null;
  memoryTotalMiB: number;
  memoryFreeMiB: number | null;
  memoryUsedMiB: number | null;
  driverVersion: string | null;
  /** CUDA compute capability as "major.minor", e.g. '12.0' for Blackwell consumer cards. */
  computeCapability: string | null;
  utilizationPercent: number | null;
  temperatureC: number | null;
}

/** Outcome of probing for GPUs. Absence of a GPU is an ordinary result, not an exception. */
export type GpuDetection =
  | { available: true; gpus: GpuInfo[] }
  | { available: false; reason: string };
