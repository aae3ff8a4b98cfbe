import { execFileRunner, type CommandRunner } from './command-runner.js';
import type { GpuDetection } from './gpu-info.types.js';
import {
  NVIDIA_SMI_QUERY_FIELDS,
  NvidiaSmiParseError,
  parseNvidiaSmiCsv,
  type NvidiaSmiQueryField,
} from './nvidia-smi-csv.parser.js';

const NVIDIA_SMI = 'nvidia-smi';

export function nvidiaSmiArgs(fields: readonly NvidiaSmiQueryField[]): string[] {
  return [`--query-gpu=${fields.join(',')}`, '--format=csv,noheader,nounits'];
}

/**
 * Lists the NVIDIA GPUs through nvidia-smi. Never throws: a machine without a usable GPU is a
 * normal deployment (CPU-only dev boxes, CI), so every failure becomes `available: false` with a
 * reason a person can act on.
 */
export async function detectGpus(runner: CommandRunner = execFileRunner): Promise<GpuDetection> {
  try {
    let fields: readonly NvidiaSmiQueryField[] = NVIDIA_SMI_QUERY_FIELDS;
    let result = await runner(NVIDIA_SMI, nvidiaSmiArgs(fields));
    // Drivers before 510 reject compute_cap; everything else is still worth reporting.
    if (result.exitCode !== 0 && /compute_cap.*not a valid field/i.test(result.stdout + result.stderr)) {
      fields = fields.filter((field) => field !== 'compute_cap');
      result = await runner(NVIDIA_SMI, nvidiaSmiArgs(fields));
    }
    // nvidia-smi prints its own failures (driver not loaded, no devices) on stdout, not stderr.
    const message = oneLine(result.stderr) || oneLine(result.stdout);
    if (result.exitCode !== 0) {
      return unavailable(`nvidia-smi failed (exit code ${result.exitCode})${message ? `: ${message}` : ''}`);
    }
    if (/no devices were found/i.test(result.stdout)) return unavailable('nvidia-smi found no NVIDIA devices');
    const gpus = parseNvidiaSmiCsv(result.stdout, fields);
    if (gpus.length === 0) return unavailable('nvidia-smi listed no GPUs');
    return { available: true, gpus };
  } catch (error) {
    return unavailable(describeFailure(error));
  }
}

function describeFailure(error: unknown): string {
  if (error instanceof NvidiaSmiParseError) return error.message;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'ENOENT':
      return 'nvidia-smi not found on PATH (no NVIDIA driver installed)';
    case 'EACCES':
      return 'nvidia-smi is on PATH but not executable (permission denied)';
    case 'ETIMEDOUT':
      return `nvidia-smi did not answer in time; the driver may be hung or a GPU may have fallen off the bus (${message})`;
    default:
      return `could not run nvidia-smi: ${message}`;
  }
}

function oneLine(text: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .join(' ');
}

function unavailable(reason: string): GpuDetection {
  return { available: false, reason };
}
