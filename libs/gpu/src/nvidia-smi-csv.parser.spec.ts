import { NVIDIA_SMI_QUERY_FIELDS, NvidiaSmiParseError, parseNvidiaSmiCsv } from './nvidia-smi-csv.parser.js';
import { readCapture } from './test-fixtures/nvidia-smi-capture.fixture.js';

describe('parseNvidiaSmiCsv', () => {
  it('parses an RTX 5090', () => {
    expect(parseNvidiaSmiCsv(readCapture('rtx-5090'))).toEqual([
      {
        index: 0,
        name: 'NVIDIA GeForce RTX 5090',
        uuid: 'GPU-3f9a1c2e-7b4d-4e21-9c5a-8d2e6f0b1a47',
        memoryTotalMiB: 32607,
        memoryFreeMiB: 31838,
        memoryUsedMiB: 286,
        driverVersion: '575.64.03',
        computeCapability: '12.0',
        utilizationPercent: 0,
        temperatureC: 34,
      },
    ]);
  });

  it.each([
    ['rtx-5090-d', 'NVIDIA GeForce RTX 5090 D', 32607, '12.0'],
    ['rtx-5080', 'NVIDIA GeForce RTX 5080', 16303, '12.0'],
    ['rtx-5090-laptop', 'NVIDIA GeForce RTX 5090 Laptop GPU', 24463, '12.0'],
    ['rtx-4090', 'NVIDIA GeForce RTX 4090', 24564, '8.9'],
    ['h100-80gb-hbm3', 'NVIDIA H100 80GB HBM3', 81559, '9.0'],
    ['a100-sxm4-80gb', 'NVIDIA A100-SXM4-80GB', 81920, '8.0'],
  ])('parses %s', (capture, name, memoryTotalMiB, computeCapability) => {
    const [gpu, ...rest] = parseNvidiaSmiCsv(readCapture(capture));
    expect(rest).toEqual([]);
    expect(gpu).toMatchObject({ index: 0, name, memoryTotalMiB, computeCapability });
  });

  it('parses one GPU per line, in order', () => {
    const gpus = parseNvidiaSmiCsv(readCapture('mixed-4090-4090-5090'));
    expect(gpus.map((gpu) => [gpu.index, gpu.name, gpu.memoryFreeMiB])).toEqual([
      [0, 'NVIDIA GeForce RTX 4090', 1210],
      [1, 'NVIDIA GeForce RTX 4090', 23617],
      [2, 'NVIDIA GeForce RTX 5090', 31838],
    ]);
    expect(gpus[0]).toMatchObject({ memoryUsedMiB: 22898, utilizationPercent: 98, temperatureC: 71, driverVersion: '570.124.04' });
  });

  it('turns [N/A] and [Not Supported] into null', () => {
    const [h100, a100] = parseNvidiaSmiCsv(readCapture('not-available-fields'));
    expect(h100).toMatchObject({ name: 'NVIDIA H100 80GB HBM3', utilizationPercent: null, temperatureC: 33 });
    expect(a100).toEqual({
      index: 1,
      name: 'NVIDIA A100-SXM4-80GB',
      uuid: null,
      memoryTotalMiB: 81920,
      memoryFreeMiB: null,
      memoryUsedMiB: null,
      driverVersion: '525.85.12',
      computeCapability: '8.0',
      utilizationPercent: null,
      temperatureC: null,
    });
  });

  it('tolerates extra spaces, CRLF line ends and blank lines', () => {
    const text = '\r\n  0 ,  NVIDIA GeForce RTX 4090 ,GPU-0e5d7a93-1c48-4f6b-b27e-9a3f8c1d4e52,24564,   23617, 453 , 550.54.15,8.9 , 7,45  \r\n\r\n';
    expect(parseNvidiaSmiCsv(text)).toEqual([
      expect.objectContaining({ index: 0, name: 'NVIDIA GeForce RTX 4090', memoryTotalMiB: 24564, memoryFreeMiB: 23617, computeCapability: '8.9', temperatureC: 45 }),
    ]);
  });

  it('keeps a comma inside a name, the only free-text field', () => {
    const [gpu] = parseNvidiaSmiCsv('0, Some GPU, Rev B, GPU-1, 1024, 1000, 24, 550.54.15, 8.6, 0, 30');
    expect(gpu).toMatchObject({ name: 'Some GPU, Rev B', uuid: 'GPU-1', memoryTotalMiB: 1024 });
  });

  it('returns no GPUs for empty output', () => {
    expect(parseNvidiaSmiCsv('')).toEqual([]);
    expect(parseNvidiaSmiCsv('\n\n')).toEqual([]);
  });

  it('parses a query without compute_cap when given that field list', () => {
    const fields = NVIDIA_SMI_QUERY_FIELDS.filter((field) => field !== 'compute_cap');
    const [gpu] = parseNvidiaSmiCsv(readCapture('rtx-3090-driver-470-no-compute-cap'), fields);
    expect(gpu).toMatchObject({ name: 'NVIDIA GeForce RTX 3090', computeCapability: null, driverVersion: '470.256.02', utilizationPercent: 0, temperatureC: 30 });
  });

  describe('on garbage, throws an error naming the line', () => {
    const good = readCapture('rtx-4090').trim();

    it.each([
      ['too few values', `${good}\n1, NVIDIA GeForce RTX 4090, 24564`, 2, /expected 10 comma-separated values, found 3/],
      ['an error message', 'No devices were found', 1, /expected 10 comma-separated values, found 1/],
      ['a CSV header', 'index, name, uuid, memory.total [MiB], memory.free [MiB], memory.used [MiB], driver_version, compute_cap, utilization.gpu [%], temperature.gpu', 1, /CSV header/],
      ['units left in', good.replace('24564', '24564 MiB'), 1, /memory.total is "24564 MiB", expected a number/],
      ['a non-numeric index', good.replace(/^0/, 'x'), 1, /index is "x"/],
      ['a missing name', good.replace('NVIDIA GeForce RTX 4090', '[N/A]'), 1, /name is missing/],
      ['an unreadable total memory', good.replace('24564', '[N/A]'), 1, /memory.total is missing/],
      ['a malformed compute capability', good.replace('8.9', 'sm_89'), 1, /compute_cap is "sm_89"/],
    ])('%s', (_case, text, lineNumber, problem) => {
      let error: unknown;
      try {
        parseNvidiaSmiCsv(text);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(NvidiaSmiParseError);
      expect(error).toMatchObject({ lineNumber, message: expect.stringMatching(problem) });
      expect((error as Error).message).toContain(`line ${lineNumber} ("${text.split('\n')[lineNumber - 1].trim()}")`);
    });
  });
});
