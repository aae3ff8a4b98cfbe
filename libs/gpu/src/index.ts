export type { GpuInfo, GpuDetection } from './gpu-info.types.js';
export {
  createExecFileRunner,
  execFileRunner,
  CommandTimeoutError,
  DEFAULT_COMMAND_TIMEOUT_MS,
  type CommandRunner,
  type CommandResult,
  type ExecFileRunnerOptions,
} from './command-runner.js';
export {
  parseNvidiaSmiCsv,
  NvidiaSmiParseError,
  NVIDIA_SMI_QUERY_FIELDS,
  type NvidiaSmiQueryField,
} from './nvidia-smi-csv.parser.js';
export { detectGpus, nvidiaSmiArgs } from './gpu-detector.js';
export { HARDWARE_PROFILES, matchHardwareProfile, profileForGpu, type HardwareProfile } from './hardware-profile.js';
export { selectGpu, visibleGpus } from './cuda-visible-devices.js';
export { formatGpuTable, type GpuTableOptions } from './gpu-table.formatter.js';
