import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * tools/gpu-stack-check.sh rehearse: the GPU machine's run on this one, with device cpu. It packs
 * the bundle (Node, its headers, nats-server, the built services, their node_modules), copies the
 * working tree as the device tool does, and in that copy unpacks the bundle, builds the engine and
 * the addon from source against the bundled Node's headers, writes a random Llama 3.1 model with
 * the Llama 3 tokenizer, and compares the stack with the engine alone. What it cannot rehearse is
 * the CUDA build and the GPU itself.
 */
describe('tools/gpu-stack-check.sh, rehearsed with device cpu', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-stack-check-e2e-'));
  let result: ReturnType<typeof spawnSync>;
  let log = '';
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  beforeAll(() => {
    result = spawnSync('bash', [path.join(repo, 'tools/gpu-stack-check.sh'), 'rehearse'], {
      cwd: repo,
      env: {
        ...process.env, OUT: out, CONCURRENCY: '1,8', PROMPT_TOKENS: '48', MAX_TOKENS: '24',
        // The structured-output benchmark on the simulated device, shortened (on a GPU machine it
        // runs at full length on that host's cores).
        STRUCTURED_BENCH: '1', STRUCTURED_BENCH_ARGS: '--concurrency 2 --requests 2 --max-tokens 8',
      },
      encoding: 'utf8',
      timeout: 600_000,
    });
    log = `${String(result.stdout)}\n${String(result.stderr)}`;
  }, 660_000);

  it('runs to the end with status 0, on the bundled node and nats-server', () => {
    if (result.status !== 0) console.error(log.slice(-6000));
    expect(result.status).toBe(0);
    expect(log).toMatch(/device cpu; node \/tmp\/deepinfer-stack-rehearsal\.\w+\/repo\/toolchain\/bin\/node v20\./);
    // The bundle fits the device tool's 64 MiB transfer with room to spare.
    const size = log.match(/pack: (\d+(?:\.\d+)?)M \(/);
    expect(size).not.toBeNull();
    expect(Number(size![1])).toBeLessThan(56);
  });

  it('gets the same greedy ids from the engine alone and through the stack, and measures both at each level', () => {
    const report = JSON.parse(fs.readFileSync(path.join(out, 'stack-check.json'), 'utf8')) as {
      greedy: { engine: number[]; stack: number[]; match: boolean };
      levels: { concurrency: number; numRequests: number; engine: { outputTokensPerS: number; outputTokens: number }; stack: { outputTokensPerS: number; outputTokens: number; numFailed: number }; ratio: number }[];
      executor: { device: string; cudaGraphsCaptured: number; memory: { weightsBytes: number } };
    };
    expect(report.greedy.engine).toHaveLength(32);
    expect(report.greedy.stack).toEqual(report.greedy.engine);
    expect(report.greedy.match).toBe(true);
    expect(report.levels.map((l) => l.concurrency)).toEqual([1, 8]);
    for (const level of report.levels) {
      // Both sides generated every token of every request (2 per client, 24 tokens each).
      expect(level.engine.outputTokens).toBe(level.numRequests * 24);
      expect(level.stack.outputTokens).toBe(level.numRequests * 24);
      expect(level.stack.numFailed).toBe(0);
      expect(level.ratio).toBeCloseTo(level.stack.outputTokensPerS / level.engine.outputTokensPerS, 6);
      expect(level.ratio).toBeGreaterThan(0);
    }
    expect(report.executor.device).toMatch(/^cpu:/);
    expect(report.executor.cudaGraphsCaptured).toBe(0);
    expect(report.executor.memory.weightsBytes).toBeGreaterThan(0);
    const summary = fs.readFileSync(path.join(out, 'stack-check-summary.md'), 'utf8');
    expect(summary).toContain('engine alone vs through the stack: identical');
    expect(summary).toMatch(/\| concurrency \| requests \| failed \| engine tok\/s \| stack tok\/s \| stack ÷ engine \|/);
  });

  it('runs the structured-output benchmark on the simulated device with the bundled node', () => {
    const report = fs.readFileSync(path.join(out, 'structured-output-bench.md'), 'utf8');
    for (const schema of ['{"story": string}', 'record (5 typed fields)', '{"story": string ≥ 4000}']) {
      // concurrency 2, 2 requests, nothing failed on either side
      const row = report.split('\n').find((l) => l.includes(` ${schema} |`) && /^\|\s+2 \|/.test(l));
      expect(row).toBeDefined();
      expect(row).toMatch(/\|\s+0 \/ 0 \|$/);
    }
    expect(report).toMatch(/\| concurrency \| mask workers \| mask time per token p50 \|/);
  });
});
