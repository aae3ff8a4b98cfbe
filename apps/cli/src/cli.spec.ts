import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// These tests run the built command (`bin/deepinfer.js` → apps/cli/dist) as a user would;
// nx builds it before this target runs.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = path.join(repoRoot, 'bin', 'deepinfer.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-cli-'));

function deepinfer(args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DEEPINFER_')));
  const result = spawnSync(process.execPath, [bin, ...args], { env: { ...clean, ...env }, encoding: 'utf8', timeout: 30000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('deepinfer CLI', () => {
  it.each(['serve', 'generate', 'gpu-info', 'init-config'])('%s --help describes the command and exits 0', (command) => {
    const { code, stdout } = deepinfer([command, '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain(`Usage: deepinfer ${command}`);
    if (command !== 'gpu-info') {
      for (const flag of ['--config <file>', '--model <value>', '--host <value>', '--port <value>', '--gpu-memory-utilization <value>']) expect(stdout).toContain(flag);
    }
  });

  it('init-config writes a file that loads back to the same settings', () => {
    const file = path.join(tmp, 'x.yaml');
    const first = deepinfer(['init-config', file, '--max-num-seqs', '12', '--no-enable-prefix-caching', '--model', '/m/llama']);
    expect(first.code).toBe(0);
    const again = path.join(tmp, 'again.yaml');
    expect(deepinfer(['init-config', again, '--config', file]).code).toBe(0);
    expect(fs.readFileSync(again, 'utf8')).toBe(fs.readFileSync(file, 'utf8'));
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toMatch(/^max_num_seqs: 12$/m);
    expect(text).toMatch(/^enable_prefix_caching: false$/m);
    expect(text).toMatch(/^model: \/m\/llama$/m);
  });

  it('refuses to overwrite without --force', () => {
    const file = path.join(tmp, 'exists.yaml');
    fs.writeFileSync(file, 'keep');
    expect(deepinfer(['init-config', file]).code).toBe(1);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep');
  });

  it('exits 2 naming the field, value and rule for a bad YAML value', () => {
    const file = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(file, 'gpu_memory_utilization: 1.7\nmax_num_seqs: -1\n');
    const { code, stderr } = deepinfer(['init-config', path.join(tmp, 'out.yaml'), '--config', file]);
    expect(code).toBe(2);
    expect(stderr).toContain(`gpu_memory_utilization = 1.7 (from ${file}): must be a number in (0, 1]`);
    expect(stderr).toContain('max_num_seqs = -1');
  });

  it('exits 2 naming the variable for a bad environment value', () => {
    const { code, stderr } = deepinfer(['serve'], { DEEPINFER_BLOCK_SIZE: '20' });
    expect(code).toBe(2);
    expect(stderr).toContain('block_size = "20" (from environment variable DEEPINFER_BLOCK_SIZE): must be one of 8, 16, 32, 64, 128');
  });

  it('exits 2 on an unknown flag', () => {
    expect(deepinfer(['serve', '--max-num-seq', '3']).code).toBe(2);
  });

  it('gpu-info exits 0 and says so on a machine without a GPU (or lists the GPUs)', () => {
    const table = deepinfer(['gpu-info']);
    expect(table.code).toBe(0);
    const json = deepinfer(['gpu-info', '--json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { available: boolean; reason?: string; gpus?: unknown[] };
    if (parsed.available) expect(parsed.gpus!.length).toBeGreaterThan(0);
    else expect(table.stdout).toContain('No NVIDIA GPU detected');
  });

  describe('generate (the engine in-process, bundled stories260k)', () => {
    const golden = fs.readFileSync(path.join(repoRoot, 'models/stories260k/expected_greedy_from_bos_200_tokens.txt'), 'utf8');

    it('an empty prompt is just BOS: 200 greedy tokens print the llama2.c golden story, then a newline', () => {
      const { code, stdout, stderr } = deepinfer(['generate', '--model', 'models/stories260k', '--prompt', '', '--max-tokens', '200', '--temperature', '0', '--cpu-threads', '2']);
      expect(stderr).toContain('(1 prompt tokens)');
      expect(code).toBe(0);
      expect(stdout).toBe(golden + '\n');
      expect(stderr).toContain('loaded LlamaForCausalLM (F32, 5 layers, vocab 512)');
      expect(stderr).toMatch(/200 tokens in [\d.]+ s .*finish: length/);
    });

    it('continues a prompt encoded by the model tokenizer, printing only the continuation', () => {
      const prompt = 'Once upon a time';
      const { code, stdout, stderr } = deepinfer(['generate', '--prompt', prompt, '--max-tokens', '64', '--temperature', '0', '--cpu-threads', '2']);
      expect(stderr).toContain('(5 prompt tokens)');
      expect(code).toBe(0);
      expect(stdout.endsWith('\n')).toBe(true);
      expect(stdout.length).toBeGreaterThan(100);
      expect(golden.slice(prompt.length).startsWith(stdout.slice(0, -1))).toBe(true);
    });

    it('exits 2 naming a bad sampling flag', () => {
      const { code, stderr } = deepinfer(['generate', '--top-p', '0']);
      expect(code).toBe(2);
      expect(stderr).toContain('--top-p = "0": must be a number in (0, 1]');
    });
  });

  it('serve without nats-server on PATH exits with the install command', () => {
    const { code, stderr } = deepinfer(['serve', '--nats-url', 'nats://127.0.0.1:1'], { PATH: '/nonexistent' });
    expect(code).toBe(127);
    expect(stderr).toContain('sudo apt-get install -y nats-server');
  });
});
