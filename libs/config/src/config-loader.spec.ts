import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './config-error.js';
import { applyDefaultsWhereUnset, isExplicit, loadConfig } from './config-loader.js';
import { renderConfigYaml, saveConfig } from './config-writer.js';
import { DeepInferConfig } from './deepinfer-config.js';
import { CONFIG_FIELDS } from './config-fields.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-config-'));
const writeYaml = (name: string, text: string) => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
};
const problemsOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('gives the documented defaults with no sources', () => {
    const { config, sources } = loadConfig({ env: {} });
    expect(config.gpuMemoryUtilization).toBe(0.9);
    expect(config.blockSize).toBe(16);
    expect(config.model).toBe('models/stories260k');
    expect(config.maxModelLen).toBeUndefined();
    expect(sources.gpuMemoryUtilization.kind).toBe('default');
  });

  it('layers YAML < environment < flags and records where each value came from', () => {
    const file = writeYaml('layers.yaml', 'max_num_seqs: 8\nblock_size: 32\nport: 9000\nenable_prefix_caching: false\n');
    const { config, sources } = loadConfig({
      configFile: file,
      env: { DEEPINFER_MAX_NUM_SEQS: '16', DEEPINFER_PORT: '9001' },
      flags: { port: '9002' },
    });
    expect(config.blockSize).toBe(32);
    expect(config.maxNumSeqs).toBe(16);
    expect(config.port).toBe(9002);
    expect(config.enablePrefixCaching).toBe(false);
    expect(sources.blockSize).toEqual({ kind: 'file', detail: file });
    expect(sources.maxNumSeqs).toEqual({ kind: 'env', detail: 'DEEPINFER_MAX_NUM_SEQS' });
    expect(sources.port).toEqual({ kind: 'flag', detail: '--port' });
  });

  it('reads the file named by DEEPINFER_CONFIG', () => {
    const file = writeYaml('env-named.yaml', 'model: /models/llama\n');
    expect(loadConfig({ env: { DEEPINFER_CONFIG: file } }).config.model).toBe('/models/llama');
  });

  it('coerces environment strings (booleans, numbers) and treats an empty variable as unset', () => {
    const { config, sources } = loadConfig({ env: { DEEPINFER_ENABLE_CHUNKED_PREFILL: 'no', DEEPINFER_GPU_MEMORY_UTILIZATION: '0.5', DEEPINFER_API_KEY: '', DEEPINFER_MAX_NUM_SEQS: '' } });
    expect(config.enableChunkedPrefill).toBe(false);
    expect(config.gpuMemoryUtilization).toBe(0.5);
    expect(config.apiKey).toBeUndefined();
    expect(config.maxNumSeqs).toBe(256);
    expect(sources.maxNumSeqs.kind).toBe('default');
  });

  it('reports every invalid field at once, naming the value, the source and what is allowed', () => {
    const file = writeYaml('bad.yaml', 'gpu_memory_utilization: 1.5\nblock_size: 12\ndtype: float64\nmax_num_seqs: 0\n');
    const problems = problemsOf(() => loadConfig({ configFile: file, env: { DEEPINFER_MAX_NUM_BATCHED_TOKENS: 'lots' }, flags: { port: '70000' } }));
    const byField = Object.fromEntries(problems.map((p) => [p.field, p]));
    expect(Object.keys(byField).sort()).toEqual(['block_size', 'dtype', 'gpu_memory_utilization', 'max_num_batched_tokens', 'max_num_seqs', 'port']);
    expect(byField['gpu_memory_utilization']).toEqual({ field: 'gpu_memory_utilization', value: 1.5, source: file, allowed: 'must be a number in (0, 1]' });
    expect(byField['block_size']!.allowed).toBe('must be one of 8, 16, 32, 64, 128');
    expect(byField['max_num_batched_tokens']).toMatchObject({ value: 'lots', source: 'environment variable DEEPINFER_MAX_NUM_BATCHED_TOKENS' });
    expect(byField['port']).toMatchObject({ value: 70000, source: 'flag --port' });
  });

  it.each([
    ['0', 'environment'],
    ['-0.1', 'environment'],
  ])('rejects gpu_memory_utilization=%s (range is (0, 1])', (value) => {
    const problems = problemsOf(() => loadConfig({ env: { DEEPINFER_GPU_MEMORY_UTILIZATION: value } }));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.field).toBe('gpu_memory_utilization');
  });

  it('accepts gpu_memory_utilization=1 (the closed end)', () => {
    expect(loadConfig({ env: { DEEPINFER_GPU_MEMORY_UTILIZATION: '1' } }).config.gpuMemoryUtilization).toBe(1);
  });

  it('rejects unknown settings in the file and environment with a suggestion', () => {
    const file = writeYaml('unknown.yaml', 'gpu_memory_utilisation: 0.8\n');
    const problems = problemsOf(() => loadConfig({ configFile: file, env: { DEEPINFER_MAX_NUM_SEQ: '4' } }));
    expect(problems.map((p) => p.allowed)).toEqual(['unknown setting; did you mean gpu_memory_utilization?', 'unknown setting; did you mean max_num_seqs?']);
  });

  it('ignores the DEEPINFER_ variables that are plumbing, not settings', () => {
    expect(() => loadConfig({ env: { DEEPINFER_SUPERVISED: '1', DEEPINFER_NATIVE_ADDON: '/opt/deepinfer_native.node' } })).not.toThrow();
  });

  it('passes over DEEPINFER_URL, which the examples read (a shell may run them and `deepinfer serve`), but not a near miss', () => {
    expect(loadConfig({ env: { DEEPINFER_URL: 'http://127.0.0.1:8000' } }).config).toEqual(new DeepInferConfig());
    expect(problemsOf(() => loadConfig({ env: { DEEPINFER_URLS: 'x' } })).map((p) => p.field)).toEqual(['DEEPINFER_URLS']);
  });

  it('passes over build-time variables and DEEPINFER_DEV_ engine knobs, but still refuses other unknown names', () => {
    // A shell that built the engine (DEEPINFER_CUDA_ARCHITECTURES) or forces a CPU kernel path
    // (DEEPINFER_DEV_CPU_KERNELS) must still start a service; a typo of a setting must not.
    const env = { DEEPINFER_CUDA_ARCHITECTURES: '90-real', DEEPINFER_DEV_CPU_KERNELS: 'scalar', DEEPINFER_DEV_CPU_SERIAL_MACS: '0' };
    expect(loadConfig({ env }).config).toEqual(new DeepInferConfig());
    expect(problemsOf(() => loadConfig({ env: { ...env, DEEPINFER_CUDA_GRAPH: '0' } })).map((p) => [p.field, p.allowed])).toEqual([
      ['DEEPINFER_CUDA_GRAPH', 'unknown setting; did you mean cuda_graphs?'],
    ]);
  });

  it('takes the engine tuning knobs as settings from every source', () => {
    const file = writeYaml('cuda.yaml', 'cuda_decode_attn: tiled\ncublas_path: /opt/cuda/libcublas.so.12\n');
    const { config, sources } = loadConfig({
      configFile: file,
      env: { DEEPINFER_CUDA_GRAPHS: '0', DEEPINFER_CUDA_GEMM: 'fallback', DEEPINFER_DECODE_AHEAD_MAX_SEQS: '0' },
      flags: { cudaPrefillAttn: 'fma' },
    });
    expect(config).toMatchObject({ cudaGraphs: false, cudaGemm: 'fallback', decodeAheadMaxSeqs: 0, cudaPrefillAttn: 'fma', cudaDecodeAttn: 'tiled', cublasPath: '/opt/cuda/libcublas.so.12' });
    expect(sources.cudaGraphs).toEqual({ kind: 'env', detail: 'DEEPINFER_CUDA_GRAPHS' });
    expect(problemsOf(() => loadConfig({ env: { DEEPINFER_CUDA_DECODE_ATTN: 'flash' } }))[0]!.allowed).toBe('must be one of mma, tiled, warp');
  });

  it('accepts the dtype spellings of vLLM and PyTorch as the canonical names', () => {
    const { config } = loadConfig({ env: { DEEPINFER_DTYPE: 'bf16', DEEPINFER_KV_CACHE_DTYPE: 'half' } });
    expect(config.dtype).toBe('bfloat16');
    expect(config.kvCacheDtype).toBe('float16');
    expect(loadConfig({ env: {}, flags: { dtype: 'fp32' } }).config.dtype).toBe('float32');
    expect(problemsOf(() => loadConfig({ env: { DEEPINFER_DTYPE: 'fp8' } }))[0]).toMatchObject({ field: 'dtype', value: 'fp8' });
    expect(loadConfig({ env: { DEEPINFER_KV_CACHE_DTYPE: 'fp8_e4m3' } }).config.kvCacheDtype).toBe('fp8');
  });

  it('refuses tensor_parallel_size above 1 with the reason', () => {
    expect(loadConfig({ env: { DEEPINFER_TENSOR_PARALLEL_SIZE: '1' } }).config.tensorParallelSize).toBe(1);
    expect(problemsOf(() => loadConfig({ env: {}, flags: { tensorParallelSize: '2' } }))).toEqual([
      { field: 'tensor_parallel_size', value: 2, source: 'flag --tensor-parallel-size', allowed: 'must be 1: tensor parallelism is not implemented yet (run one replica per GPU)' },
    ]);
  });

  it('reports a malformed YAML file, a non-mapping and a missing file', () => {
    expect(problemsOf(() => loadConfig({ configFile: writeYaml('broken.yaml', 'a: [1, 2\n'), env: {} }))[0]!.allowed).toMatch(/not valid YAML/);
    expect(problemsOf(() => loadConfig({ configFile: writeYaml('list.yaml', '- 1\n- 2\n'), env: {} }))[0]!.allowed).toMatch(/mapping/);
    expect(problemsOf(() => loadConfig({ configFile: path.join(tmp, 'absent.yaml'), env: {} }))[0]!.allowed).toMatch(/cannot read/);
  });

  it('rejects values of the wrong type in YAML', () => {
    const file = writeYaml('types.yaml', 'max_num_seqs: eight\nenable_prefix_caching: maybe\nport: 8000.5\n');
    expect(problemsOf(() => loadConfig({ configFile: file, env: {} })).map((p) => p.field)).toEqual(['max_num_seqs', 'enable_prefix_caching', 'port']);
  });
});

describe('saving', () => {
  it('round-trips every setting through YAML', () => {
    const original = loadConfig({
      env: {},
      flags: { model: 'org/name', maxModelLen: '4096', apiKey: 'sk-secret', enablePrefixCaching: false, gpuMemoryUtilization: '0.75', blockSize: '32', natsPassword: 'p w' },
    }).config;
    const file = path.join(tmp, 'saved.yaml');
    saveConfig(original, file);
    const reloaded = loadConfig({ configFile: file, env: {} }).config;
    expect({ ...reloaded }).toEqual({ ...original });
    expect(reloaded.maxModelLen).toBe(4096);
  });

  it('documents every setting with its environment variable and flag', () => {
    const yaml = renderConfigYaml(new DeepInferConfig());
    for (const f of CONFIG_FIELDS) {
      expect(yaml).toContain(`env ${f.envVar}, flag ${f.flag}`);
      expect(yaml).toMatch(new RegExp(`^${f.yamlKey}:`, 'm'));
    }
  });
});

describe('applyDefaultsWhereUnset (hardware profiles)', () => {
  it('fills only values the user did not set and says which', () => {
    const resolved = loadConfig({ env: { DEEPINFER_MAX_NUM_SEQS: '64' } });
    const applied = applyDefaultsWhereUnset(resolved, { maxNumSeqs: 512, gpuMemoryUtilization: 0.92 }, { kind: 'profile', detail: 'nvidia_5090' });
    expect(applied).toEqual(['gpuMemoryUtilization']);
    expect(resolved.config.maxNumSeqs).toBe(64);
    expect(resolved.config.gpuMemoryUtilization).toBe(0.92);
    expect(isExplicit(resolved, 'gpuMemoryUtilization')).toBe(false);
    expect(resolved.sources.gpuMemoryUtilization).toEqual({ kind: 'profile', detail: 'nvidia_5090' });
  });
});
