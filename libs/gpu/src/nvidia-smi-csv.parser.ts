import type { GpuInfo } from './gpu-info.types.js';

/**
 * The --query-gpu fields, in output order. `compute_cap` needs driver ≥ 510; the detector drops
 * it and retries on older drivers, so the parser accepts any subset that keeps the required fields.
 */
export const NVIDIA_SMI_QUERY_FIELDS = [
  'index',
  'name',
  'uuid',
  'memory.total',
  'memory.free',
  'memory.used',
  'driver_version',
  'compute_cap',
  'utilization.gpu',
  'temperature.gpu',
] as const;

export type NvidiaSmiQueryField = (typeof NVIDIA_SMI_QUERY_FIELDS)[number];

const REQUIRED_FIELDS: readonly NvidiaSmiQueryField[] = ['index', 'name', 'memory.total'];

/** Thrown on output that is not what `--format=csv,noheader,nounits` prints; names the culprit line. */
export class NvidiaSmiParseError extends Error {
  constructor(
    readonly lineNumber: number,
    readonly line: string,
    problem: string,
  ) {
    super(`Unexpected nvidia-smi output on line ${lineNumber} ("${line}"): ${problem}`);
    this.name = 'NvidiaSmiParseError';
  }
}

/**
 * Parses `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`: one GPU per line,
 * values separated by ", ". Bracketed placeholders ([N/A], [Not Supported], [Unknown Error],
 * [Insufficient Permissions], …) become null. Blank lines are ignored.
 */
export function parseNvidiaSmiCsv(
  text: string,
  fields: readonly NvidiaSmiQueryField[] = NVIDIA_SMI_QUERY_FIELDS,
): GpuInfo[] {
  for (const required of REQUIRED_FIELDS) {
    if (!fields.includes(required)) throw new Error(`nvidia-smi query must include the "${required}" field`);
  }
  const gpus: GpuInfo[] = [];
  text.split(/\r?\n/).forEach((rawLine, i) => {
    const line = rawLine.trim();
    if (line !== '') gpus.push(parseLine(line, i + 1, fields));
  });
  return gpus;
}

function parseLine(line: string, lineNumber: number, fields: readonly NvidiaSmiQueryField[]): GpuInfo {
  const fail = (problem: string): never => {
    throw new NvidiaSmiParseError(lineNumber, line, problem);
  };
  if (/^index\s*,\s*name\b/.test(line)) fail('this is a CSV header; query with --format=csv,noheader,nounits');
  const values = splitValues(line, fields, fail);
  const raw = (field: NvidiaSmiQueryField): string | null => {
    const position = fields.indexOf(field);
    return position < 0 ? null : toNullable(values[position]);
  };
  const number = (field: NvidiaSmiQueryField, pattern: RegExp): number | null => {
    const value = raw(field);
    if (value === null) return null;
    if (!pattern.test(value)) fail(`${field} is "${value}", expected a number (was nounits omitted?)`);
    return Number(value);
  };
  const required = <T>(field: NvidiaSmiQueryField, value: T | null): T =>
    value === null ? fail(`${field} is missing`) : value;

  const integer = /^\d+$/;
  const decimal = /^\d+(\.\d+)?$/;
  const computeCapability = raw('compute_cap');
  if (computeCapability !== null && !/^\d+\.\d+$/.test(computeCapability)) {
    fail(`compute_cap is "${computeCapability}", expected "major.minor"`);
  }
  return {
    index: required('index', number('index', integer)),
    name: required('name', raw('name')),
    uuid: raw('uuid'),
    memoryTotalMiB: required('memory.total', number('memory.total', integer)),
    memoryFreeMiB: number('memory.free', integer),
    memoryUsedMiB: number('memory.used', integer),
    driverVersion: raw('driver_version'),
    computeCapability,
    utilizationPercent: number('utilization.gpu', decimal),
    temperatureC: number('temperature.gpu', decimal),
  };
}

/**
 * nvidia-smi never quotes, so a comma inside a value would add columns. Only the name is free
 * text, so surplus columns are folded back into it; any other count mismatch is garbage.
 */
function splitValues(line: string, fields: readonly NvidiaSmiQueryField[], fail: (problem: string) => never): string[] {
  const values = line.split(',').map((value) => value.trim());
  const surplus = values.length - fields.length;
  if (surplus < 0) fail(`expected ${fields.length} comma-separated values, found ${values.length}`);
  if (surplus === 0) return values;
  const nameAt = fields.indexOf('name');
  return [
    ...values.slice(0, nameAt),
    values.slice(nameAt, nameAt + surplus + 1).join(', '),
    ...values.slice(nameAt + surplus + 1),
  ];
}

function toNullable(value: string | undefined): string | null {
  if (value === undefined || value === '' || /^\[.*\]$/.test(value) || value === 'N/A') return null;
  return value;
}
