import { CommandTimeoutError, createExecFileRunner, execFileRunner } from './command-runner.js';
import { detectGpus } from './gpu-detector.js';

// These run real processes: the default runner is the one piece the captures cannot cover.
describe('execFileRunner', () => {
  it('resolves with stdout, stderr and a zero exit code', async () => {
    const result = await execFileRunner(process.execPath, ['-e', 'process.stdout.write("out"); process.stderr.write("err")']);
    expect(result).toEqual({ exitCode: 0, stdout: 'out', stderr: 'err' });
  });

  it('resolves, not rejects, when the command exits non-zero', async () => {
    const result = await execFileRunner(process.execPath, ['-e', 'process.stdout.write("NVIDIA-SMI has failed"); process.exit(9)']);
    expect(result).toEqual({ exitCode: 9, stdout: 'NVIDIA-SMI has failed', stderr: '' });
  });

  it('rejects with ENOENT when the command does not exist', async () => {
    await expect(execFileRunner('deepinfer-no-such-command-3b7f', [])).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects with a timeout error when the command hangs', async () => {
    const runner = createExecFileRunner({ timeoutMs: 200 });
    await expect(runner(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'])).rejects.toBeInstanceOf(CommandTimeoutError);
  });
});

describe('detectGpus with the real default runner', () => {
  // Written for the GPU-less CI/dev machines this suite usually runs on, without assuming why
  // there is no GPU (no nvidia-smi, no driver, no device); on a GPU machine it checks the listing.
  it('answers without throwing', async () => {
    const detection = await detectGpus();
    if (detection.available) {
      expect(detection.gpus.length).toBeGreaterThan(0);
      for (const gpu of detection.gpus) expect(gpu.name).not.toBe('');
    } else {
      expect(detection.reason).toMatch(/\S/);
    }
  });
});
