import { selectGpu, visibleGpus } from './cuda-visible-devices.js';
import { parseNvidiaSmiCsv } from './nvidia-smi-csv.parser.js';
import { readCapture } from './test-fixtures/nvidia-smi-capture.fixture.js';

const gpus = parseNvidiaSmiCsv(readCapture('mixed-4090-4090-5090'));
const indices = (cudaVisibleDevices?: string) => visibleGpus(gpus, cudaVisibleDevices).map((gpu) => gpu.index);

describe('visibleGpus / selectGpu', () => {
  it('sees every GPU when CUDA_VISIBLE_DEVICES is unset, none when it is empty', () => {
    expect(indices(undefined)).toEqual([0, 1, 2]);
    expect(selectGpu(gpus)?.index).toBe(0);
    expect(indices('')).toEqual([]);
    expect(selectGpu(gpus, '')).toBeUndefined();
  });

  it('follows indices in the order given', () => {
    expect(indices('2,0')).toEqual([2, 0]);
    expect(selectGpu(gpus, '2')?.name).toBe('NVIDIA GeForce RTX 5090');
    expect(indices(' 1 , 2 ')).toEqual([1, 2]);
  });

  it('accepts full GPU UUIDs and unique prefixes, case-insensitively', () => {
    expect(selectGpu(gpus, 'GPU-3f9a1c2e-7b4d-4e21-9c5a-8d2e6f0b1a47')?.index).toBe(2);
    expect(indices('GPU-7a3c,gpu-0E5D')).toEqual([1, 0]);
  });

  it('stops at the first entry that names no GPU, as CUDA does', () => {
    expect(indices('1,7,0')).toEqual([1]);
    expect(indices('-1')).toEqual([]);
    expect(indices('GPU-')).toEqual([]); // ambiguous prefix
    expect(indices('MIG-5b1e4a3c-0f2d-5e6a-9b8c-7d6e5f4a3b2c')).toEqual([]);
    expect(selectGpu(gpus, 'nonsense')).toBeUndefined();
  });

  it('skips repeated entries', () => {
    expect(indices('1,1,GPU-7a3c9e15,2')).toEqual([1, 2]);
  });
});
