import {
  BLOCK_SIZES, ROLES, ROUTERS, SIM_PROFILE_NAMES, CUDA_DECODE_ATTNS, CUDA_GEMMS, CUDA_PREFILL_ATTNS, DEVICES, DTYPE_ALIASES, DTYPES, KV_CACHE_DTYPES, LOG_FORMATS, LOG_LEVEL_NAMES, TOOL_CALL_PARSERS, type ConfigKey,
} from './deepinfer-config.js';

export type FieldKind = 'string' | 'int' | 'number' | 'boolean' | 'enum' | 'int-enum';

/** One setting: how it is typed, named in each source, and described to users. */
export interface ConfigField {
  key: ConfigKey;
  kind: FieldKind;
  /** What a valid value is, in words, for error messages. */
  allowed: string;
  description: string;
  choices?: readonly (string | number)[];
  /** Other accepted spellings of choices (enum fields), e.g. `bf16` for `bfloat16`. */
  aliases?: Readonly<Record<string, string>>;
  /** May be unset (YAML null, omitted). */
  optional?: boolean;
  /** Never printed in logs (keys, passwords). */
  secret?: boolean;
  /** The YAML key, e.g. `gpu_memory_utilization`. */
  yamlKey: string;
  /** The environment variable, e.g. `DEEPINFER_GPU_MEMORY_UTILIZATION`. */
  envVar: string;
  /** The command-line flag, e.g. `--gpu-memory-utilization`. */
  flag: string;
}

type FieldSpec = Omit<ConfigField, 'key' | 'yamlKey' | 'envVar' | 'flag'>;

const choice = (choices: readonly (string | number)[]) => `one of ${choices.join(', ')}`;
const dtypeChoice = (choices: readonly string[]) => `${choice(choices)} (also bf16, f16/fp16/half, f32/fp32/float)`;
const port = (what: string): FieldSpec => ({ kind: 'int', allowed: 'an integer port in [1, 65535]', description: what });

/** The single table every source (YAML, environment, flags, docs, compose) is derived from. */
const SPECS: Record<ConfigKey, FieldSpec> = {
  model: { kind: 'string', allowed: 'a model directory or a Hugging Face Hub id', description: 'Model directory, or Hub id (org/name) taken from the local Hugging Face cache, downloaded into it when absent' },
  servedModelName: { kind: 'string', optional: true, allowed: 'a non-empty string', description: "Model name clients send; defaults to the Hub id as given, or the model directory's last part" },
  dtype: { kind: 'enum', choices: DTYPES, aliases: DTYPE_ALIASES, allowed: dtypeChoice(DTYPES), description: "Weight dtype the engine serves in, converted at load; auto keeps the checkpoint's (the CPU backend computes in float32 from weights rounded to it)" },
  maxModelLen: { kind: 'int', optional: true, allowed: 'an integer in [1, 1048576]', description: "Context length (prompt + output); default: the model's maximum" },
  seed: { kind: 'int', allowed: 'an integer in [0, 2147483647]', description: 'Seed of the engine-wide random generator (unseeded requests)' },
  device: { kind: 'enum', choices: DEVICES, allowed: choice(DEVICES), description: 'Engine backend: cuda, cpu, auto (cuda when a usable GPU is present), or sim (a simulated GPU that models step times: a measuring instrument for the stack, needs only config.json and a tokenizer)' },
  gpuMemoryUtilization: { kind: 'number', allowed: 'a number in (0, 1]', description: 'Fraction of GPU memory for weights, activations and the KV cache' },
  cpuKvCacheSpaceGib: { kind: 'number', allowed: 'a number of GiB in (0, 4096]', description: 'KV-cache size on the CPU backend, in GiB' },
  cpuThreads: { kind: 'int', allowed: 'an integer in [0, 1024]', description: 'CPU engine threads; 0 = one per core' },
  kvCacheDtype: { kind: 'enum', choices: KV_CACHE_DTYPES, aliases: DTYPE_ALIASES, allowed: dtypeChoice(KV_CACHE_DTYPES), description: 'KV-cache element type; auto = the backend\'s (float32 on the CPU, the served dtype on CUDA); fp8 = E4M3 with a power-of-two scale per token and kv head (CPU backend; about 4x the blocks of float32); another value the backend cannot store stops the executor at start' },
  blockSize: { kind: 'int-enum', choices: BLOCK_SIZES, allowed: choice(BLOCK_SIZES), description: 'Tokens per KV-cache block' },
  tensorParallelSize: { kind: 'int', allowed: '1: tensor parallelism is not implemented yet (run one replica per GPU)', description: 'GPUs per model replica; only 1 is accepted today' },
  dataParallelSize: { kind: 'int', allowed: 'an integer in [1, 64]', description: 'Replicas (scheduler + executor pairs) serve starts on this machine: one GPU each (CUDA_VISIBLE_DEVICES per executor), or cpu_threads split between them; admin ports of replica i are the scheduler/executor ones + 100 i' },
  role: { kind: 'enum', choices: ROLES, allowed: choice(ROLES), description: 'What serve starts: all (NATS if needed, api, tokenizer, replicas), frontend (api + tokenizer), replica (replicas only, joining the NATS at nats_url)' },
  router: { kind: 'enum', choices: ROUTERS, allowed: choice(ROUTERS), description: "The api's choice of replica: kv (most prefix-cache overlap net of load, else least load) or round_robin" },
  routerSessionAffinity: { kind: 'boolean', allowed: 'true or false', description: 'Send requests with the same `user` to the same replica while it lives' },
  cudaGraphs: { kind: 'boolean', allowed: 'true or false', description: 'CUDA backend: replay decode steps from CUDA graphs (false: run every step eagerly)' },
  cudaPrefillAttn: { kind: 'enum', choices: CUDA_PREFILL_ATTNS, allowed: choice(CUDA_PREFILL_ATTNS), description: 'CUDA backend: prefill attention kernel (mma: tensor cores; fma: CUDA cores)' },
  cudaDecodeAttn: { kind: 'enum', choices: CUDA_DECODE_ATTNS, allowed: choice(CUDA_DECODE_ATTNS), description: 'CUDA backend: decode attention kernel (mma: tensor cores; tiled; warp)' },
  cudaGemm: { kind: 'enum', choices: CUDA_GEMMS, allowed: choice(CUDA_GEMMS), description: 'CUDA backend: GEMM library (auto: cuBLAS when it loads, else built-in; cublas: required; fallback: built-in)' },
  cublasPath: { kind: 'string', optional: true, allowed: 'a path to libcublas.so.N', description: 'CUDA backend: the cuBLAS library to load first (default: search libcublas.so.13/.12, $CUDA_HOME/lib64, /usr/local/cuda/lib64)' },
  simProfile: { kind: 'enum', choices: SIM_PROFILE_NAMES, allowed: choice(SIM_PROFILE_NAMES), description: 'device sim: the card whose step times are modelled' },
  simBandwidthGbps: { kind: 'number', optional: true, allowed: 'a number of GB/s in [1, 100000]', description: "device sim: peak memory bandwidth instead of the profile's" },
  simTflops: { kind: 'number', optional: true, allowed: 'a number of TFLOP/s in [1, 100000]', description: "device sim: peak dense bf16 matmul rate instead of the profile's" },
  simMemoryGib: { kind: 'number', optional: true, allowed: 'a number of GiB in [1, 4096]', description: "device sim: device memory instead of the profile's" },
  guidedDecodingWorkers: { kind: 'int', allowed: 'an integer in [-1, 64]', description: 'Worker threads computing guided-decoding masks and compiling grammars off the executor\'s event loop (each with its own xgrammar, token tables and grammar cache; a new grammar compiles on a worker computing no masks, and while every worker has live guided requests up to this many extra threads start for compiles, stopped after 30 s idle); 0 = on the event loop; -1 = min(4, max(1, cores - 2)): masks are computed while the device runs the forward pass, so a few threads cover a 64-sequence batch (a mask and its accept: 0.1–0.2 ms of one core for the Llama 3 vocabulary and a typical schema), and two cores stay for the event loop and the engine\'s host work' },
  decodeAheadMaxSeqs: { kind: 'int', allowed: 'an integer in [0, 4096]', description: "Largest batch the executor decodes one step ahead of the scheduler's next message; 0 = off" },
  maxNumSeqs: { kind: 'int', allowed: 'an integer in [1, 4096]', description: 'Most sequences in one step' },
  maxNumBatchedTokens: { kind: 'int', allowed: 'an integer in [1, 1048576]', description: 'Token budget of one step' },
  enableChunkedPrefill: { kind: 'boolean', allowed: 'true or false', description: 'Split long prompts across steps while others decode' },
  asyncScheduling: { kind: 'boolean', allowed: 'true or false', description: "Schedule and send the next step while one is at the executor, so the host's work overlaps the device's (at most two steps in flight); false: one step at a time" },
  enablePrefixCaching: { kind: 'boolean', allowed: 'true or false', description: 'Reuse KV blocks of identical prompt prefixes' },
  host: { kind: 'string', allowed: 'a host name or address', description: 'Address the API listens on' },
  port: port('Port of the OpenAI-compatible API'),
  apiKey: { kind: 'string', optional: true, secret: true, allowed: 'a non-empty string', description: 'Require this Bearer key on API requests' },
  rejectUnknownFields: { kind: 'boolean', allowed: 'true or false', description: "Refuse request fields the API does not know with a 400 (OpenAI's behaviour); false: run the request and warn once per field name (vLLM's)" },
  toolCallParser: { kind: 'enum', choices: TOOL_CALL_PARSERS, allowed: choice(TOOL_CALL_PARSERS), description: "How tool calls are written in the model's text, for chat requests with tools: hermes (<tool_call>{...}</tool_call>: Hermes, Qwen 2.5/3), llama3_json ({\"name\": ..., \"parameters\": ...}: Llama 3.1+); auto = the one the chat template shows" },
  adminKey: { kind: 'string', optional: true, secret: true, allowed: 'a non-empty string', description: 'Require this Bearer key on admin routes' },
  apiAdminPort: port('Admin HTTP port of the api service'),
  tokenizerAdminPort: port('Admin HTTP port of the tokenizer service'),
  schedulerAdminPort: port('Admin HTTP port of the scheduler service'),
  executorAdminPort: port('Admin HTTP port of the executor service'),
  natsUrl: { kind: 'string', allowed: 'a nats:// URL', description: 'NATS server URL' },
  natsUser: { kind: 'string', optional: true, allowed: 'a string', description: 'NATS user name' },
  natsPassword: { kind: 'string', optional: true, secret: true, allowed: 'a string', description: 'NATS password' },
  logLevel: { kind: 'enum', choices: LOG_LEVEL_NAMES, allowed: choice(LOG_LEVEL_NAMES), description: 'Log level' },
  logFormat: { kind: 'enum', choices: LOG_FORMATS, allowed: choice(LOG_FORMATS), description: 'Log line format' },
};

export const ENV_PREFIX = 'DEEPINFER_';

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());

export const CONFIG_FIELDS: readonly ConfigField[] = (Object.keys(SPECS) as ConfigKey[]).map((key) => ({
  key,
  ...SPECS[key],
  yamlKey: snake(key),
  envVar: ENV_PREFIX + snake(key).toUpperCase(),
  flag: '--' + snake(key).replace(/_/g, '-'),
}));

const BY_KEY = new Map(CONFIG_FIELDS.map((f) => [f.key, f]));
const BY_YAML_KEY = new Map(CONFIG_FIELDS.map((f) => [f.yamlKey, f]));

export function fieldOf(key: ConfigKey): ConfigField {
  return BY_KEY.get(key)!;
}

export function fieldByYamlKey(yamlKey: string): ConfigField | undefined {
  return BY_YAML_KEY.get(yamlKey);
}
