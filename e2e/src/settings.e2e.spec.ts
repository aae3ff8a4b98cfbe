import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { CONFIG_FIELDS } from '@deepinfer/config';
import { REPO_ROOT, startStack, type Stack } from './support/stack.js';

/**
 * `deepinfer serve` with every documented DEEPINFER_* variable set at once (docs/configuration.md
 * is read, so a variable documented without a value here fails the first test), then each one
 * is seen to act through the running stack. Ports, host and nats_url are also given as flags by
 * startStack (free ports): for those the test sees the documented precedence, flag over
 * environment.
 */
const docs = fs.readFileSync(path.join(REPO_ROOT, 'docs/configuration.md'), 'utf8');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-settings-'));
const configFile = path.join(tmp, 'settings.yaml');
// A setting only the file sets, to see DEEPINFER_CONFIG act.
fs.writeFileSync(configFile, 'max_num_batched_tokens: 384\n');

const API_KEY = 'sk-settings-test';
const ADMIN_KEY = 'admin-settings-test';
const SERVED_NAME = 'tiny-stories';

/** A value for every documented variable (non-default where the default would prove nothing). */
const VALUES: Record<string, string> = {
  DEEPINFER_MODEL: path.join(REPO_ROOT, 'models/stories260k'),
  DEEPINFER_SERVED_MODEL_NAME: SERVED_NAME,
  DEEPINFER_DTYPE: 'bf16',
  DEEPINFER_MAX_MODEL_LEN: '256',
  DEEPINFER_SEED: '7',
  DEEPINFER_DEVICE: 'cpu',
  DEEPINFER_GPU_MEMORY_UTILIZATION: '0.8',
  DEEPINFER_CPU_KV_CACHE_SPACE_GIB: '0.5',
  DEEPINFER_CPU_THREADS: '1',
  DEEPINFER_KV_CACHE_DTYPE: 'float32',
  DEEPINFER_BLOCK_SIZE: '32',
  DEEPINFER_TENSOR_PARALLEL_SIZE: '1',
  // One replica here (two CPU engines would crowd this file); scale-out.e2e runs two.
  DEEPINFER_DATA_PARALLEL_SIZE: '1',
  DEEPINFER_ROLE: 'all',
  DEEPINFER_ROUTER: 'round_robin',
  DEEPINFER_ROUTER_SESSION_AFFINITY: 'true',
  DEEPINFER_MAX_NUM_SEQS: '3',
  DEEPINFER_MAX_NUM_BATCHED_TOKENS: '',  // left to the file (an empty variable is unset)
  DEEPINFER_ENABLE_CHUNKED_PREFILL: 'false',
  DEEPINFER_ENABLE_PREFIX_CACHING: 'false',
  DEEPINFER_DECODE_AHEAD_MAX_SEQS: '0',
  // Masks on the executor's event loop here; structured-output.e2e runs one worker thread.
  DEEPINFER_GUIDED_DECODING_WORKERS: '0',
  // One step at a time here; every other e2e file runs with the default (asynchronous).
  DEEPINFER_ASYNC_SCHEDULING: 'false',
  DEEPINFER_CUDA_GRAPHS: '0',
  DEEPINFER_CUDA_PREFILL_ATTN: 'fma',
  DEEPINFER_CUDA_DECODE_ATTN: 'tiled',
  DEEPINFER_CUDA_GEMM: 'fallback',
  DEEPINFER_CUBLAS_PATH: '/usr/local/cuda/lib64/libcublas.so.12',
  // The simulated device's settings, with device cpu: shown and warned about (sim-device.e2e runs device sim).
  DEEPINFER_SIM_PROFILE: 'h100',
  DEEPINFER_SIM_BANDWIDTH_GBPS: '900',
  DEEPINFER_SIM_TFLOPS: '150',
  DEEPINFER_SIM_MEMORY_GIB: '24',
  DEEPINFER_HOST: '0.0.0.0',
  DEEPINFER_PORT: '1',
  DEEPINFER_API_KEY: API_KEY,
  DEEPINFER_ADMIN_KEY: ADMIN_KEY,
  DEEPINFER_REJECT_UNKNOWN_FIELDS: 'true',
  // stories260k's template shows no tool-call format (auto would refuse tools): hermes is forced.
  DEEPINFER_TOOL_CALL_PARSER: 'hermes',
  DEEPINFER_API_ADMIN_PORT: '1',
  DEEPINFER_TOKENIZER_ADMIN_PORT: '1',
  DEEPINFER_SCHEDULER_ADMIN_PORT: '1',
  DEEPINFER_EXECUTOR_ADMIN_PORT: '1',
  DEEPINFER_NATS_URL: 'nats://127.0.0.1:1',
  DEEPINFER_NATS_USER: 'settings-user',
  DEEPINFER_NATS_PASSWORD: 'settings-password',
  DEEPINFER_LOG_LEVEL: 'debug',
  DEEPINFER_LOG_FORMAT: 'json',
  // Not settings (docs/configuration.md, "variables that are not settings").
  DEEPINFER_CONFIG: configFile,
  DEEPINFER_CONFIGS_DIR: path.join(REPO_ROOT, 'configs'),
  DEEPINFER_NATIVE_ADDON: path.join(REPO_ROOT, 'native/binding/build/Release/deepinfer_native.node'),
  DEEPINFER_SUPERVISED: '0',
  DEEPINFER_REPLICA_ID: 'settings-replica',
  DEEPINFER_CUDA_ARCHITECTURES: '90-real',
  DEEPINFER_DEV_CPU_KERNELS: 'scalar',
  DEEPINFER_DEV_CPU_SERIAL_MACS: '0',
  // The examples' variable: a shell that ran them may export it; every service passes it over.
  DEEPINFER_URL: 'http://127.0.0.1:1',
};

/** The parts of GET /executor and the scheduler's GET /stats these tests read. */
interface ExecutorReport {
  device: string;
  backend: string;
  threads: number;
  model: Record<string, unknown>;
  kvCache: { numBlocks: number; blockSize: number; dtype: string };
  settings: Record<string, unknown>;
  decodeAhead: { used: number; dropped: number };
}
interface SchedulerReport {
  executor: Record<string, unknown>;
  scheduler: {
    prefixCache: { enabled: boolean; numHitTokens: number; numQueryTokens: number };
    batchSizeHistogram: { upperBounds: number[]; counts: number[] };
  };
}

describe('deepinfer serve with every documented variable set', () => {
  let stack: Stack;
  let client: OpenAI;
  let base: string;

  const admin = (service: keyof Stack['adminPorts'], route: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${stack.adminPorts[service]}${route}`, init);

  beforeAll(async () => {
    stack = await startStack([], Object.fromEntries(Object.entries(VALUES).filter(([, v]) => v !== '')));
    base = `http://127.0.0.1:${stack.apiPort}`;
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: API_KEY, maxRetries: 0, timeout: 60000 });
  }, 120000);
  afterAll(async () => {
    if (stack) await stack.stop('SIGINT');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('has a value for every variable the docs name and every setting', () => {
    const documented = new Set([...docs.matchAll(/DEEPINFER_[A-Z0-9_]*[A-Z0-9]/g)].map((m) => m[0]));
    const tableRows = docs.split('\n').filter((line) => line.startsWith('| '));
    for (const field of CONFIG_FIELDS) {
      expect([field.yamlKey, tableRows.some((row) => new RegExp(`[| /]${field.yamlKey}[ /|]`).test(row))]).toEqual([field.yamlKey, true]);
      documented.add(field.envVar);
    }
    // Patterns in prose (DEEPINFER_CUDA_*) are not variables.
    const missing = [...documented].filter((name) => !(name in VALUES) && !docs.includes(`${name}_*`));
    expect(missing).toEqual([]);
  });

  it('computes guided masks on the event loop with guided_decoding_workers 0 (no worker thread)', async () => {
    const r = await client.chat.completions.create({ model: SERVED_NAME, messages: [{ role: 'user', content: 'x' }], max_tokens: 30, temperature: 0, response_format: { type: 'json_object' } });
    expect(r.choices[0]!.message.content!.startsWith('{')).toBe(true);
    const executor = (await (await admin('executor', '/executor')).json()) as { guidedDecoding: { workers: number; workerLoad: number[]; workerThreads: unknown; maskTimePerToken: { count: number } } };
    expect(executor.guidedDecoding.workers).toBe(0);
    expect(executor.guidedDecoding.workerLoad).toEqual([]);
    expect(executor.guidedDecoding.workerThreads).toBeNull();
    expect(executor.guidedDecoding.maskTimePerToken.count).toBeGreaterThan(0);
  });

  it('serves with the API key and the served model name, and refuses without the key', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([SERVED_NAME]);
    const refused = await fetch(`${base}/v1/models`);
    expect(refused.status).toBe(401);
    const completion = await client.completions.create({ model: SERVED_NAME, prompt: 'Once upon a time', max_tokens: 12, temperature: 0 });
    expect(completion.usage?.completion_tokens).toBe(12);
  });

  it('runs the engine as configured: bf16 weights, f32 KV, 32-token blocks, 1 thread, the forced scalar kernels', async () => {
    const executor = (await (await admin('executor', '/executor')).json()) as ExecutorReport;
    expect(executor.device).toBe('cpu:scalar');
    expect(executor.backend).toBe('cpu-scalar');
    expect(executor.threads).toBe(1);
    expect(executor.model).toMatchObject({ name: SERVED_NAME, dtype: 'bfloat16', checkpointDtype: 'F32', maxModelLen: 256 });
    expect(executor.kvCache).toMatchObject({ blockSize: 32, dtype: 'float32' });
    // 0.5 GiB of 32-token blocks of this model (5 layers x 4 KV heads x 8 dims x K and V, f32).
    expect(executor.kvCache.numBlocks).toBe(Math.floor((0.5 * 1024 ** 3) / (32 * 5 * 4 * 8 * 2 * 4)));
    expect(executor.settings).toMatchObject({
      device: 'cpu', dtype: 'bfloat16', kv_cache_dtype: 'float32', gpu_memory_utilization: 0.8, max_num_batched_tokens: 384, seed: 7,
      cuda_graphs: false, cuda_prefill_attn: 'fma', cuda_decode_attn: 'tiled', cuda_gemm: 'fallback', cublas_path: VALUES['DEEPINFER_CUBLAS_PATH'], decode_ahead_max_seqs: 0, guided_decoding_workers: 0,
    });
    expect(stack.output()).toMatch(/CUDA settings have no effect on the CPU backend/);
    expect(executor.settings).toMatchObject({ sim_profile: 'h100', sim_bandwidth_gbps: 900, sim_tflops: 150, sim_memory_gib: 24 });
    expect(stack.output()).toMatch(/sim settings have no effect without device sim.*sim_profile,sim_bandwidth_gbps,sim_tflops,sim_memory_gib/);
  });

  it('never decodes ahead with decode_ahead_max_seqs 0', async () => {
    await client.completions.create({ model: SERVED_NAME, prompt: 'A cat', max_tokens: 16, temperature: 0 });
    const executor = (await (await admin('executor', '/executor')).json()) as ExecutorReport;
    expect(executor.decodeAhead).toEqual({ used: 0, dropped: 0 });
  });

  it('refuses a prompt over max_model_len', async () => {
    await expect(client.completions.create({ model: SERVED_NAME, prompt: 'Once upon a time '.repeat(80), max_tokens: 4 })).rejects.toMatchObject({ status: 400 });
  });

  it('refuses a request field it does not know (reject_unknown_fields)', async () => {
    const extra = { model: SERVED_NAME, prompt: 'Once', max_tokens: 2, not_a_field: 1 } as unknown as OpenAI.CompletionCreateParamsNonStreaming;
    await expect(client.completions.create(extra)).rejects.toMatchObject({ status: 400, error: { message: 'Unrecognized request argument supplied: not_a_field', param: 'not_a_field' } });
  });

  it('reads and enforces tool calls in the format tool_call_parser names (hermes), though the template shows none', async () => {
    const r = await client.chat.completions.create({
      model: SERVED_NAME,
      messages: [{ role: 'user', content: 'Say when.' }],
      tools: [{ type: 'function', function: { name: 'ring', parameters: { type: 'object', properties: { bell: { type: 'string', enum: ['big', 'small'] } }, required: ['bell'] } } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
      temperature: 0,
      max_tokens: 100,
    });
    expect(r.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: null, tool_calls: [{ type: 'function', function: { name: 'ring' } }] } });
    const call = r.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(['{"bell":"big"}', '{"bell":"small"}']).toContain(call.function.arguments);
  });

  it('schedules with the configured limits and no prefix caching', async () => {
    const prompt = 'Once upon a time there was a little girl who liked to play outside in the park';
    await Promise.all(Array.from({ length: 6 }, () => client.completions.create({ model: SERVED_NAME, prompt, max_tokens: 8, temperature: 0 })));
    const stats = (await (await admin('scheduler', '/stats')).json()) as SchedulerReport;
    // The step budget came from the DEEPINFER_CONFIG file; the executor's geometry reached the scheduler.
    expect(stats.executor).toMatchObject({ maxNumBatchedTokens: 384, blockSize: 32, maxModelLen: 256, modelName: SERVED_NAME });
    // Six identical prompts and not one cached token.
    expect(stats.scheduler.prefixCache).toMatchObject({ enabled: false, numHitTokens: 0 });
    expect(stats.scheduler.prefixCache.numQueryTokens).toBeGreaterThan(6 * 10);
    // Batches of at most max_num_seqs = 3: the histogram's buckets stop at 4 and nothing overflows.
    const batches = stats.scheduler.batchSizeHistogram;
    expect(batches.upperBounds).toEqual([1, 2, 4]);
    expect(batches.counts.at(-1)).toBe(0);
    expect(batches.counts[2]).toBeGreaterThan(0);
  });

  it('guards admin routes with the admin key', async () => {
    expect((await admin('scheduler', '/drain', { method: 'POST' })).status).toBe(401);
    const resumed = await admin('scheduler', '/resume', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(resumed.status).toBe(200);
  });

  it('logs JSON lines at debug level', () => {
    const serviceLines = stack.output().split('\n').filter((l) => /^\[(api|tokenizer|scheduler|executor)\]/.test(l));
    expect(serviceLines.length).toBeGreaterThan(0);
    const parsed = serviceLines.map((l) => JSON.parse(l.replace(/^\[\w+\]\s*/, '')) as { level: string });
    expect(parsed.some((l) => l.level === 'debug')).toBe(true);
  });

  it('protects NATS with the configured user and password', async () => {
    const { connect } = await import('@nats-io/transport-node');
    await expect(connect({ servers: stack.natsUrl, reconnect: false, timeout: 2000 })).rejects.toThrow(/Authorization/i);
    const nc = await connect({ servers: stack.natsUrl, user: VALUES['DEEPINFER_NATS_USER'], pass: VALUES['DEEPINFER_NATS_PASSWORD'] });
    await nc.close();
  });

  it('serves one replica named by DEEPINFER_REPLICA_ID, routed round-robin with session affinity by user', async () => {
    const health = (await (await fetch(`${base}/health`)).json()) as { details: { router: string; replicas: { replicaId: string; status: string }[] } };
    expect(health.details.router).toBe('round_robin');
    expect(health.details.replicas).toEqual([expect.objectContaining({ replicaId: 'settings-replica', status: 'ok' })]);
    expect(((await (await admin('scheduler', '/stats')).json()) as { replicaId: string }).replicaId).toBe('settings-replica');
    for (let i = 0; i < 3; i++) await client.completions.create({ model: SERVED_NAME, prompt: 'A dog', max_tokens: 2, user: 'user-42' });
    const metrics = await (await admin('api', '/metrics')).text();
    // The first request of user-42 went round-robin, the next two by affinity.
    expect(Number(/deepinfer_router_decisions_total\{[^}]*reason="affinity"[^}]*\} (\d+)/.exec(metrics)?.[1])).toBe(2);
    expect(Number(/deepinfer_router_decisions_total\{[^}]*reason="round_robin"[^}]*\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(metrics).not.toMatch(/deepinfer_router_decisions_total\{[^}]*reason="(kv|least_load)"/);
  });
});
