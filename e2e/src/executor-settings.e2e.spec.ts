import { spawn } from 'node:child_process';
import path from 'node:path';
import { getFreePort, startNatsServer, waitFor, type NatsServerHandle } from '@deepinfer/testing';
import { REPO_ROOT } from './support/stack.js';

/**
 * Every engine setting acts or is refused: for each one, the executor service (the real
 * process, the real engine on the bundled model) is started with the setting changed, and what
 * GET /executor reports differs from a run with the defaults the way the setting says, or the
 * process stops with status 2 naming the field. The CUDA-only settings cannot act on this
 * CPU-only machine: there the row checks that the executor shows the value and warns that the
 * CPU backend ignores it (their effect on a GPU is checked by native/scripts/gpu-check.sh).
 */

/** What GET /executor answers (the fields these rows read). */
interface ExecutorReport {
  status: string;
  backend: string;
  threads: number;
  model: { name: string; dtype: string; checkpointDtype: string; quantization: string | null; maxModelLen: number };
  kvCache: { numBlocks: number; blockSize: number; bytesPerBlock: number; dtype: string };
  settings: Record<string, unknown>;
}

interface ExecutorRun {
  /** The report once the model is loaded, or undefined when the process exited first. */
  report?: ExecutorReport;
  exitCode?: number | null;
  output: string;
}

let nats: NatsServerHandle;

async function runExecutor(env: Record<string, string>): Promise<ExecutorRun> {
  const adminPort = await getFreePort();
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DEEPINFER_')));
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'apps/executor/dist/main.js')], {
    cwd: REPO_ROOT,
    env: { ...inherited, DEEPINFER_NATS_URL: nats.url, DEEPINFER_HOST: '127.0.0.1', DEEPINFER_EXECUTOR_ADMIN_PORT: String(adminPort), DEEPINFER_CPU_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const report = await waitFor('the executor to load its model, or exit', async () => {
      if (child.exitCode !== null) return 'exited' as const;
      const res = await fetch(`http://127.0.0.1:${adminPort}/executor`).catch(() => undefined);
      const body = res?.ok ? ((await res.json()) as ExecutorReport) : undefined;
      return body?.status === 'ready' ? body : undefined;
    }, 60000, 100);
    if (report === 'exited') return { exitCode: await exited, output };
    return { report, output };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  }
}

interface Row {
  /** The setting's YAML key. */
  setting: string;
  env: Record<string, string>;
  check: (run: ExecutorRun, baseline: ExecutorReport) => void;
}

const refusedNaming = (field: string, words: RegExp) => (run: ExecutorRun) => {
  expect(run.report).toBeUndefined();
  expect(run.exitCode).toBe(2);
  expect(run.output).toMatch(new RegExp(`${field} = .*${words.source}`));
};

const cudaOnly = (setting: string, envVar: string, value: string, shown: unknown): Row => ({
  setting,
  env: { [envVar]: value },
  check: ({ report, output }, baseline) => {
    expect(report!.settings[setting]).toEqual(shown);
    expect(baseline.settings[setting]).not.toEqual(shown);
    expect(output).toMatch(/CUDA settings have no effect on the CPU backend/);
    expect(output).toContain(setting);
  },
});

const ROWS: Row[] = [
  {
    setting: 'dtype',
    env: { DEEPINFER_DTYPE: 'bf16' },
    check: ({ report }, baseline) => {
      expect(baseline.model).toMatchObject({ dtype: 'float32', checkpointDtype: 'F32', quantization: null });
      expect(report!.model).toMatchObject({ dtype: 'bfloat16', checkpointDtype: 'F32' });
    },
  },
  {
    setting: 'kv_cache_dtype',
    env: { DEEPINFER_KV_CACHE_DTYPE: 'float16' },
    check: refusedNaming('kv_cache_dtype', /not supported by the cpu backend \(its KV cache is float32 or fp8\)/),
  },
  {
    // E4M3 K/V with one exponent byte per token and kv head (stories260k: head_dim 8, so 9
    // bytes per head instead of 32): the same cpu_kv_cache_space_gib holds 32/9 as many blocks.
    setting: 'kv_cache_dtype fp8',
    env: { DEEPINFER_KV_CACHE_DTYPE: 'fp8' },
    check: ({ report }, baseline) => {
      expect(report!.kvCache.dtype).toBe('float8_e4m3');
      expect(baseline.kvCache.dtype).toBe('float32');
      expect(report!.kvCache.bytesPerBlock * 32).toBe(baseline.kvCache.bytesPerBlock * 9);
      expect(report!.kvCache.numBlocks).toBeGreaterThanOrEqual(Math.floor((baseline.kvCache.numBlocks * 32) / 9) - 1);
    },
  },
  {
    setting: 'kv_cache_dtype (the one the CPU stores)',
    env: { DEEPINFER_KV_CACHE_DTYPE: 'float32' },
    check: ({ report }, baseline) => {
      expect(report!.kvCache.dtype).toBe('float32');
      expect(report!.settings['kv_cache_dtype']).toBe('float32');
      expect(baseline.settings['kv_cache_dtype']).toBe('auto');
    },
  },
  {
    setting: 'tensor_parallel_size',
    env: { DEEPINFER_TENSOR_PARALLEL_SIZE: '2' },
    check: refusedNaming('tensor_parallel_size', /tensor parallelism is not implemented yet/),
  },
  {
    setting: 'block_size',
    env: { DEEPINFER_BLOCK_SIZE: '32' },
    check: ({ report }, baseline) => {
      expect(report!.kvCache.blockSize).toBe(32);
      expect(report!.kvCache.bytesPerBlock).toBe(2 * baseline.kvCache.bytesPerBlock);
      expect(report!.kvCache.numBlocks).toBe(Math.floor(baseline.kvCache.numBlocks / 2));
    },
  },
  {
    setting: 'cpu_kv_cache_space_gib',
    env: { DEEPINFER_CPU_KV_CACHE_SPACE_GIB: '0.25' },
    check: ({ report }, baseline) => expect(report!.kvCache.numBlocks).toBe(Math.floor(baseline.kvCache.numBlocks / 4)),
  },
  {
    setting: 'cpu_threads',
    env: { DEEPINFER_CPU_THREADS: '2' },
    check: ({ report }, baseline) => {
      expect(baseline.threads).toBe(1);
      expect(report!.threads).toBe(2);
    },
  },
  {
    setting: 'max_model_len',
    env: { DEEPINFER_MAX_MODEL_LEN: '100' },
    check: ({ report }, baseline) => {
      expect(baseline.model.maxModelLen).toBe(512);
      expect(report!.model.maxModelLen).toBe(100);
    },
  },
  {
    setting: 'served_model_name',
    env: { DEEPINFER_SERVED_MODEL_NAME: 'tiny-stories' },
    check: ({ report }, baseline) => {
      expect(baseline.model.name).toBe('stories260k');
      expect(report!.model.name).toBe('tiny-stories');
    },
  },
  {
    setting: 'device',
    env: { DEEPINFER_DEVICE: 'cuda' },
    // No GPU here: asking for CUDA is refused at load, naming the setting.
    check: refusedNaming('device', /CUDA backend is not built into this binary|no usable CUDA device/),
  },
  {
    setting: 'decode_ahead_max_seqs',
    env: { DEEPINFER_DECODE_AHEAD_MAX_SEQS: '0' },
    // The effect needs traffic: settings.e2e.spec.ts serves completions with it at 0 and sees no
    // decode-ahead step, where openai-api.e2e.spec.ts (default 8) sees them used.
    check: ({ report }, baseline) => {
      expect(baseline.settings['decode_ahead_max_seqs']).toBe(8);
      expect(report!.settings['decode_ahead_max_seqs']).toBe(0);
    },
  },
  {
    setting: 'device sim (the simulated GPU, a measuring instrument) with sim_profile',
    env: { DEEPINFER_DEVICE: 'sim', DEEPINFER_SIM_PROFILE: 'h100' },
    check: ({ report, output }, baseline) => {
      expect(baseline.backend).toMatch(/^cpu-/);
      expect(report!.backend).toBe('sim-h100');
      expect(report!.settings['sim_profile']).toBe('h100');
      expect(output).toMatch(/device sim: a simulated GPU/);
    },
  },
  {
    setting: 'sim_bandwidth_gbps (device sim)',
    env: { DEEPINFER_DEVICE: 'sim', DEEPINFER_SIM_BANDWIDTH_GBPS: '900' },
    check: ({ report }) => {
      expect(report!.backend).toBe('sim-custom');
      expect(report!.settings['sim_bandwidth_gbps']).toBe(900);
    },
  },
  {
    setting: 'dtype float32 with device sim',
    env: { DEEPINFER_DEVICE: 'sim', DEEPINFER_DTYPE: 'float32' },
    check: refusedNaming('dtype', /auto or bfloat16 with device sim/),
  },
  {
    setting: 'sim_profile without device sim',
    env: { DEEPINFER_SIM_PROFILE: 'h200' },
    check: ({ report, output }) => {
      expect(report!.backend).toMatch(/^cpu-/);
      expect(output).toMatch(/sim settings have no effect without device sim/);
    },
  },
  cudaOnly('cuda_graphs', 'DEEPINFER_CUDA_GRAPHS', 'false', false),
  cudaOnly('cuda_prefill_attn', 'DEEPINFER_CUDA_PREFILL_ATTN', 'fma', 'fma'),
  cudaOnly('cuda_decode_attn', 'DEEPINFER_CUDA_DECODE_ATTN', 'tiled', 'tiled'),
  cudaOnly('cuda_gemm', 'DEEPINFER_CUDA_GEMM', 'fallback', 'fallback'),
  cudaOnly('cublas_path', 'DEEPINFER_CUBLAS_PATH', '/usr/local/cuda/lib64/libcublas.so.12', '/usr/local/cuda/lib64/libcublas.so.12'),
];

describe('every engine setting acts or is refused (executor alone, real engine)', () => {
  let baseline: ExecutorReport;

  beforeAll(async () => {
    nats = await startNatsServer();
    const run = await runExecutor({});
    if (!run.report) throw new Error(`the executor did not start with the defaults:\n${run.output}`);
    baseline = run.report;
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it.each(ROWS.map((row) => [row.setting, row] as const))('%s', async (_name, row) => {
    const run = await runExecutor(row.env);
    try {
      row.check(run, baseline);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- executor output ---\n${run.output}`, { cause: err });
    }
  });
});
