import { formatGpuTable } from './gpu-table.formatter.js';
import { parseNvidiaSmiCsv } from './nvidia-smi-csv.parser.js';
import { readCapture } from './test-fixtures/nvidia-smi-capture.fixture.js';

const detected = (capture: string) => ({ available: true as const, gpus: parseNvidiaSmiCsv(readCapture(capture)) });

describe('formatGpuTable', () => {
  it('lays out an aligned table and names the matching profile', () => {
    expect(formatGpuTable(detected('mixed-4090-4090-5090'))).toBe(
      [
        'IDX  NAME                     MEM TOTAL  MEM FREE  DRIVER      COMPUTE  UTIL  TEMP  PROFILE',
        '  0  NVIDIA GeForce RTX 4090   24.0 GiB   1.2 GiB  570.124.04  8.9       98%  71°C  nvidia_4090',
        '  1  NVIDIA GeForce RTX 4090   24.0 GiB  23.1 GiB  570.124.04  8.9        0%  38°C  nvidia_4090',
        '  2  NVIDIA GeForce RTX 5090   31.8 GiB  31.1 GiB  570.124.04  12.0       0%  34°C  nvidia_5090',
        '',
        'Hardware profile: nvidia_4090 (configs/nvidia_4090.yaml) for GPU 0 (NVIDIA GeForce RTX 4090)',
      ].join('\n'),
    );
  });

  it('names the profile of the GPU CUDA_VISIBLE_DEVICES selects', () => {
    const table = formatGpuTable(detected('mixed-4090-4090-5090'), { cudaVisibleDevices: '2' });
    expect(table.split('\n').at(-1)).toBe('Hardware profile: nvidia_5090 (configs/nvidia_5090.yaml) for GPU 2 (NVIDIA GeForce RTX 5090)');
    expect(formatGpuTable(detected('rtx-5090'), { cudaVisibleDevices: '' }).split('\n').at(-1)).toBe(
      'Hardware profile: none (CUDA_VISIBLE_DEVICES="" exposes no listed GPU)',
    );
  });

  it('shows unknown values as "-" and says when no profile applies', () => {
    expect(formatGpuTable(detected('not-available-fields'))).toBe(
      [
        'IDX  NAME                   MEM TOTAL  MEM FREE  DRIVER      COMPUTE  UTIL  TEMP  PROFILE',
        '  0  NVIDIA H100 80GB HBM3   79.6 GiB  78.6 GiB  535.129.03  9.0         -  33°C  -',
        '  1  NVIDIA A100-SXM4-80GB   80.0 GiB         -  525.85.12   8.0         -     -  -',
        '',
        'Hardware profile: none; no tuned profile for GPU 0 (NVIDIA H100 80GB HBM3)',
      ].join('\n'),
    );
  });

  it('explains why no GPU is available', () => {
    expect(formatGpuTable({ available: false, reason: 'nvidia-smi not found on PATH (no NVIDIA driver installed)' })).toBe(
      'No NVIDIA GPU detected: nvidia-smi not found on PATH (no NVIDIA driver installed)',
    );
  });
});
