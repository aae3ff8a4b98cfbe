import { selectGpu } from './cuda-visible-devices.js';
import type { GpuDetection, GpuInfo } from './gpu-info.types.js';
import { profileForGpu } from './hardware-profile.js';

export interface GpuTableOptions {
  /** CUDA_VISIBLE_DEVICES as the engine will see it, to name the GPU whose profile applies. */
  cudaVisibleDevices?: string;
}

interface Column {
  header: string;
  align: 'left' | 'right';
  value: (gpu: GpuInfo) => string;
}

const MISSING = '-';

const COLUMNS: readonly Column[] = [
  { header: 'IDX', align: 'right', value: (gpu) => String(gpu.index) },
  { header: 'NAME', align: 'left', value: (gpu) => gpu.name },
  { header: 'MEM TOTAL', align: 'right', value: (gpu) => gib(gpu.memoryTotalMiB) },
  { header: 'MEM FREE', align: 'right', value: (gpu) => gib(gpu.memoryFreeMiB) },
  { header: 'DRIVER', align: 'left', value: (gpu) => gpu.driverVersion ?? MISSING },
  { header: 'COMPUTE', align: 'left', value: (gpu) => gpu.computeCapability ?? MISSING },
  { header: 'UTIL', align: 'right', value: (gpu) => suffixed(gpu.utilizationPercent, '%') },
  { header: 'TEMP', align: 'right', value: (gpu) => suffixed(gpu.temperatureC, '°C') },
  { header: 'PROFILE', align: 'left', value: (gpu) => profileForGpu(gpu)?.id ?? MISSING },
];

/** Plain-text report for `deepinfer gpu-info`: an aligned table plus the profile the engine will use. */
export function formatGpuTable(detection: GpuDetection, options: GpuTableOptions = {}): string {
  if (!detection.available) return `No NVIDIA GPU detected: ${detection.reason}`;
  const rows = [COLUMNS.map((column) => column.header), ...detection.gpus.map((gpu) => COLUMNS.map((column) => column.value(gpu)))];
  const widths = COLUMNS.map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const lines = rows.map((row) =>
    row
      .map((cell, c) => (COLUMNS[c].align === 'right' ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd(),
  );
  return [...lines, '', profileLine(detection.gpus, options)].join('\n');
}

function profileLine(gpus: readonly GpuInfo[], options: GpuTableOptions): string {
  const engineGpu = selectGpu(gpus, options.cudaVisibleDevices);
  if (!engineGpu) {
    return `Hardware profile: none (CUDA_VISIBLE_DEVICES="${options.cudaVisibleDevices}" exposes no listed GPU)`;
  }
  const profile = profileForGpu(engineGpu);
  const gpu = `GPU ${engineGpu.index} (${engineGpu.name})`;
  return profile
    ? `Hardware profile: ${profile.id} (configs/${profile.configFile}) for ${gpu}`
    : `Hardware profile: none; no tuned profile for ${gpu}`;
}

function gib(mib: number | null): string {
  return mib === null ? MISSING : `${(mib / 1024).toFixed(1)} GiB`;
}

function suffixed(value: number | null, unit: string): string {
  return value === null ? MISSING : `${value}${unit}`;
}
