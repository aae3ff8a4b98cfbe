import { CommandTimeoutError } from './command-runner.js';
import { detectGpus } from './gpu-detector.js';
import { failed, readCapture, scriptedRunner, spawnError, succeeded } from './test-fixtures/nvidia-smi-capture.fixture.js';

const QUERY_ARGS = [
  '--query-gpu=index,name,uuid,memory.total,memory.free,memory.used,driver_version,compute_cap,utilization.gpu,temperature.gpu',
  '--format=csv,noheader,nounits',
];

describe('detectGpus', () => {
  it('runs the nvidia-smi query and returns the parsed GPUs', async () => {
    const runner = scriptedRunner(succeeded(readCapture('mixed-4090-4090-5090')));
    const detection = await detectGpus(runner);
    expect(runner.calls).toEqual([{ file: 'nvidia-smi', args: QUERY_ARGS }]);
    expect(detection).toEqual({ available: true, gpus: [expect.objectContaining({ index: 0 }), expect.objectContaining({ index: 1 }), expect.objectContaining({ index: 2 })] });
  });

  it('reports a missing nvidia-smi (ENOENT) as no driver installed', async () => {
    expect(await detectGpus(scriptedRunner(spawnError('ENOENT')))).toEqual({
      available: false,
      reason: 'nvidia-smi not found on PATH (no NVIDIA driver installed)',
    });
  });

  it('reports an nvidia-smi that cannot be executed', async () => {
    expect(await detectGpus(scriptedRunner(spawnError('EACCES')))).toEqual({
      available: false,
      reason: 'nvidia-smi is on PATH but not executable (permission denied)',
    });
  });

  it('reports a hung nvidia-smi', async () => {
    const detection = await detectGpus(scriptedRunner(new CommandTimeoutError('nvidia-smi', 5000)));
    expect(detection).toEqual({ available: false, reason: expect.stringMatching(/^nvidia-smi did not answer in time.*within 5000 ms/) });
  });

  it('reports exit code 9 with the message nvidia-smi printed on stdout', async () => {
    expect(await detectGpus(scriptedRunner(failed(9, readCapture('error-exit-9-no-driver'))))).toEqual({
      available: false,
      reason:
        "nvidia-smi failed (exit code 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
    });
  });

  it('reports a driver/library version mismatch on one line', async () => {
    expect(await detectGpus(scriptedRunner(failed(18, readCapture('error-driver-library-mismatch'))))).toEqual({
      available: false,
      reason: 'nvidia-smi failed (exit code 18): Failed to initialize NVML: Driver/library version mismatch NVML library version: 570.133',
    });
  });

  it('prefers stderr when nvidia-smi wrote there', async () => {
    expect(await detectGpus(scriptedRunner(failed(255, '', 'Unknown Error\n')))).toEqual({ available: false, reason: 'nvidia-smi failed (exit code 255): Unknown Error' });
    expect(await detectGpus(scriptedRunner(failed(255, '')))).toEqual({ available: false, reason: 'nvidia-smi failed (exit code 255)' });
  });

  it('reports no devices, whether nvidia-smi exits 6 or 0', async () => {
    expect(await detectGpus(scriptedRunner(failed(6, readCapture('error-no-devices'))))).toEqual({ available: false, reason: 'nvidia-smi failed (exit code 6): No devices were found' });
    expect(await detectGpus(scriptedRunner(succeeded(readCapture('error-no-devices'))))).toEqual({ available: false, reason: 'nvidia-smi found no NVIDIA devices' });
    expect(await detectGpus(scriptedRunner(succeeded('')))).toEqual({ available: false, reason: 'nvidia-smi listed no GPUs' });
  });

  it('reports garbage output instead of throwing', async () => {
    const detection = await detectGpus(scriptedRunner(succeeded('0, NVIDIA GeForce RTX 4090, 24564 MiB\n')));
    expect(detection).toEqual({ available: false, reason: expect.stringMatching(/^Unexpected nvidia-smi output on line 1/) });
  });

  it('reports any other runner failure instead of throwing', async () => {
    expect(await detectGpus(scriptedRunner(new Error('stdout maxBuffer length exceeded')))).toEqual({
      available: false,
      reason: 'could not run nvidia-smi: stdout maxBuffer length exceeded',
    });
  });

  it('retries without compute_cap on drivers older than 510', async () => {
    const runner = scriptedRunner(failed(2, readCapture('error-compute-cap-invalid-field')), succeeded(readCapture('rtx-3090-driver-470-no-compute-cap')));
    const detection = await detectGpus(runner);
    expect(runner.calls[1].args[0]).toBe('--query-gpu=index,name,uuid,memory.total,memory.free,memory.used,driver_version,utilization.gpu,temperature.gpu');
    expect(detection).toEqual({ available: true, gpus: [expect.objectContaining({ name: 'NVIDIA GeForce RTX 3090', computeCapability: null, temperatureC: 30 })] });
  });
});
