/**
 * The cards the simulated device (a MEASURING INSTRUMENT: a step-time model, not a GPU) can
 * stand in for. Each profile is a card's spec-sheet peaks plus efficiencies calibrated once,
 * against the H200 measurements of docs/gpu-validation.md (run 6, Llama-3.1-8B shape, bf16):
 * the efficiencies describe our CUDA kernels, not the card, so every profile reuses them. That
 * is an assumption: on a GeForce card the same kernels may reach a different fraction of peak
 * (smaller L2, GDDR7 instead of HBM); re-calibrate when a card of the kind has been measured.
 */
export type SimProfileName = 'rtx5090' | 'rtx4090' | 'h100' | 'h200';

export const SIM_PROFILE_NAMES: readonly SimProfileName[] = Object.freeze(['rtx5090', 'rtx4090', 'h100', 'h200'] as const);

export interface SimDeviceProfile {
  /** 'rtx5090', 'rtx4090', 'h100', 'h200', or 'custom' when a peak was overridden. */
  readonly name: string;
  /** The card's name as nvidia-smi prints it, e.g. 'NVIDIA GeForce RTX 5090'. */
  readonly deviceName: string;
  /** Device memory as the driver reports it (cudaMemGetInfo's total), bytes. */
  readonly memoryBytes: number;
  /** Peak DRAM bandwidth from the spec sheet, bytes/s. */
  readonly memoryBandwidthBytesPerS: number;
  /** Peak dense bf16 tensor-core rate with fp32 accumulate (what our GEMMs use), FLOP/s. */
  readonly matmulFlopsPerS: number;
  /**
   * Fraction of the peak bandwidth at which a step streams the weights (GEMV-like decode GEMMs).
   * Calibrated: 0.75 (H200: 15.0 GB of matmul weights in ~4.2 ms; the card's copy kernel
   * reaches 0.89 of peak, cuBLAS's skinny GEMMs less).
   */
  readonly weightStreamEfficiency: number;
  /**
   * Fraction of the peak bandwidth at which decode attention reads K/V through the block table.
   * Calibrated: 0.43 (H200: the step time grows 0.034 ms per sequence of 528 positions, 69 MB of
   * K/V, between batch 1 and 256).
   */
  readonly kvStreamEfficiency: number;
  /**
   * Fraction of the peak matmul rate a compute-bound step reaches, attention included.
   * Calibrated: 0.667 (H200: a 2,048-token prefill at 41,732 tok/s; the card's own 8192³ GEMM
   * reaches 0.78 of peak, the whole prefill 0.81 of that).
   */
  readonly matmulEfficiency: number;
  /**
   * Time every step costs on top of its roofline, ms: kernel launches (CUDA-graph replay), the
   * small kernels (norms, RoPE, activation), sampling and the host-device copies. Calibrated:
   * 0.77 ms (H200; the profile shows ~1 ms of small kernels at batch 1).
   */
  readonly stepOverheadMs: number;
}

/** The H200-calibrated efficiencies (see SimDeviceProfile), shared by every profile. */
const H200_CALIBRATION = {
  weightStreamEfficiency: 0.75,
  kvStreamEfficiency: 0.43,
  matmulEfficiency: 0.667,
  stepOverheadMs: 0.77,
} as const;

const MIB = 1024 * 1024;
const GB_PER_S = 1e9;
const TFLOPS = 1e12;

/**
 * Peaks from NVIDIA's spec sheets and architecture whitepapers; memory is the total the driver
 * reports (nvidia-smi's "MiB" figure), slightly under the marketing size.
 * - RTX 5090 (Blackwell GB202, GDDR7 512-bit at 28 Gbps): 1,792 GB/s; bf16 dense with fp32
 *   accumulate 209.5 TFLOP/s (RTX Blackwell whitepaper; GeForce cards run fp32-accumulate at
 *   half the fp16-accumulate rate, 419 TFLOP/s; uncertain by the boost clock a given board
 *   holds). 32,607 MiB.
 * - RTX 4090 (Ada AD102, GDDR6X 384-bit at 21 Gbps): 1,008 GB/s; bf16 dense with fp32
 *   accumulate 165.2 TFLOP/s (Ada whitepaper, half the fp16-accumulate 330.3). 24,564 MiB.
 * - H100 SXM5 80 GB (HBM3): 3,350 GB/s; bf16 dense 989 TFLOP/s (H100 datasheet, 1,979 is with
 *   sparsity). 81,559 MiB.
 * - H200 SXM 141 GB (HBM3e): 4,800 GB/s; 989 TFLOP/s (the H100's compute). 143,156 MiB: the
 *   total our CUDA backend reported on the card measured in docs/gpu-validation.md.
 */
export const SIM_PROFILES: Readonly<Record<SimProfileName, SimDeviceProfile>> = Object.freeze({
  rtx5090: Object.freeze({
    name: 'rtx5090',
    deviceName: 'NVIDIA GeForce RTX 5090',
    memoryBytes: 32_607 * MIB,
    memoryBandwidthBytesPerS: 1_792 * GB_PER_S,
    matmulFlopsPerS: 209.5 * TFLOPS,
    ...H200_CALIBRATION,
  }),
  rtx4090: Object.freeze({
    name: 'rtx4090',
    deviceName: 'NVIDIA GeForce RTX 4090',
    memoryBytes: 24_564 * MIB,
    memoryBandwidthBytesPerS: 1_008 * GB_PER_S,
    matmulFlopsPerS: 165.2 * TFLOPS,
    ...H200_CALIBRATION,
  }),
  h100: Object.freeze({
    name: 'h100',
    deviceName: 'NVIDIA H100 80GB HBM3',
    memoryBytes: 81_559 * MIB,
    memoryBandwidthBytesPerS: 3_350 * GB_PER_S,
    matmulFlopsPerS: 989 * TFLOPS,
    ...H200_CALIBRATION,
  }),
  h200: Object.freeze({
    name: 'h200',
    deviceName: 'NVIDIA H200',
    memoryBytes: 143_156 * MIB,
    memoryBandwidthBytesPerS: 4_800 * GB_PER_S,
    matmulFlopsPerS: 989 * TFLOPS,
    ...H200_CALIBRATION,
  }),
});

/** Peaks to put in place of a profile's (config keys sim_bandwidth_gbps, sim_tflops, sim_memory_gib). */
export interface SimProfileOverrides {
  /** Peak memory bandwidth, GB/s (10⁹ bytes/s, as spec sheets count). */
  bandwidthGBps?: number;
  /** Peak dense bf16 matmul rate, TFLOP/s. */
  tflops?: number;
  /** Device memory, GiB (2³⁰ bytes). */
  memoryGib?: number;
}

/**
 * A profile of the simulated device (a measuring instrument) with explicit overrides; named
 * 'custom' when any override is given (undefined ones are not), keeping the card's name and
 * the calibrated efficiencies. Throws on an unknown name or a non-positive override.
 */
export function simProfile(name: SimProfileName, overrides: SimProfileOverrides = {}): SimDeviceProfile {
  const base = SIM_PROFILES[name] as SimDeviceProfile | undefined;
  if (!base) throw new RangeError(`unknown simulated device profile "${name}" (known: ${SIM_PROFILE_NAMES.join(', ')})`);
  const { bandwidthGBps, tflops, memoryGib } = overrides;
  for (const [key, value] of Object.entries({ bandwidthGBps, tflops, memoryGib })) {
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) throw new RangeError(`simProfile override ${key} must be a positive number, got ${value}`);
  }
  if (bandwidthGBps === undefined && tflops === undefined && memoryGib === undefined) return base;
  return Object.freeze({
    ...base,
    name: 'custom',
    memoryBandwidthBytesPerS: bandwidthGBps === undefined ? base.memoryBandwidthBytesPerS : bandwidthGBps * GB_PER_S,
    matmulFlopsPerS: tflops === undefined ? base.matmulFlopsPerS : tflops * TFLOPS,
    memoryBytes: memoryGib === undefined ? base.memoryBytes : Math.round(memoryGib * 1024 * MIB),
  });
}
