import { IsBoolean, IsIn, IsInt, IsNumber, IsOptional, IsString, Max, Min, MinLength } from 'class-validator';

export const DTYPES = ['auto', 'float32', 'float16', 'bfloat16'] as const;
/** Every KV element type some backend stores (the CPU backend: float32; CUDA: the served dtype). */
export const KV_CACHE_DTYPES = ['auto', 'float32', 'float16', 'bfloat16', 'fp8'] as const;
/** Other spellings users bring from vLLM and PyTorch, accepted for the dtype settings. */
export const DTYPE_ALIASES: Readonly<Record<string, string>> = { half: 'float16', fp16: 'float16', f16: 'float16', bf16: 'bfloat16', float: 'float32', fp32: 'float32', f32: 'float32', fp8_e4m3: 'fp8', float8_e4m3: 'fp8' };
export const CUDA_PREFILL_ATTNS = ['mma', 'fma'] as const;
export const CUDA_DECODE_ATTNS = ['mma', 'tiled', 'warp'] as const;
export const CUDA_GEMMS = ['auto', 'cublas', 'fallback'] as const;
/** How the api reads tool calls in the model's text (libs/api-core/src/tools); auto: from the chat template. */
export const TOOL_CALL_PARSERS = ['auto', 'llama3_json', 'hermes'] as const;
/** `sim`: the simulated GPU (libs/sim-device), a measuring instrument, never a real engine. */
export const DEVICES = ['auto', 'cuda', 'cpu', 'sim'] as const;
/** The simulated cards (libs/sim-device's SIM_PROFILE_NAMES; a test keeps the two lists equal). */
export const SIM_PROFILE_NAMES = ['rtx5090', 'rtx4090', 'h100', 'h200'] as const;
export const BLOCK_SIZES = [8, 16, 32, 64, 128] as const;
export const LOG_LEVEL_NAMES = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export const LOG_FORMATS = ['text', 'json'] as const;
/** What `deepinfer serve` starts: everything, the api + tokenizer side, or replicas only (docs/scale-out.md). */
export const ROLES = ['all', 'frontend', 'replica'] as const;
/** How the api picks a replica (libs/kv-router's ROUTING_POLICIES; a test keeps the two lists equal). */
export const ROUTERS = ['kv', 'round_robin'] as const;

/**
 * Every setting of a DeepInfer deployment, flat like vLLM's engine arguments, so that one name
 * works everywhere: `gpu_memory_utilization` in YAML, `DEEPINFER_GPU_MEMORY_UTILIZATION` in the
 * environment, `--gpu-memory-utilization` on the command line (see config-fields.ts).
 *
 * The initialisers are the defaults. `undefined` means "not set": derived at run time (e.g.
 * max_model_len from the model's config.json) or off (no API key).
 *
 * Capacity is not here on purpose: the number of KV blocks is decided by the executor from the
 * memory it finds and reported to the scheduler, never configured twice.
 */
export class DeepInferConfig {
  // --- model ---------------------------------------------------------------------------------
  /** A model directory, or a Hugging Face Hub id resolved through the local HF cache. */
  @IsString() @MinLength(1) model = 'models/stories260k';
  /** The name clients use in `model`; defaults to the model path's last component. */
  @IsOptional() @IsString() @MinLength(1) servedModelName?: string = undefined;
  /** Weight and activation dtype; `auto` keeps the checkpoint's (bf16 stays bf16). */
  @IsIn(DTYPES) dtype: (typeof DTYPES)[number] = 'auto';
  /** Context length in tokens (prompt + output); unset means the model's own maximum. */
  @IsOptional() @IsInt() @Min(1) @Max(1_048_576) maxModelLen?: number = undefined;
  @IsInt() @Min(0) @Max(2 ** 31 - 1) seed = 0;

  // --- device and memory ---------------------------------------------------------------------
  /** `auto`: CUDA when a usable GPU is present, else the CPU backend; `sim`: the step-time simulator. */
  @IsIn(DEVICES) device: (typeof DEVICES)[number] = 'auto';
  /** Fraction of the GPU's memory the executor may use (weights + activations + KV cache). */
  @IsNumber() @Min(Number.MIN_VALUE) @Max(1) gpuMemoryUtilization = 0.9;
  /** KV-cache space for the CPU backend, in GiB. */
  @IsNumber() @Min(Number.MIN_VALUE) @Max(4096) cpuKvCacheSpaceGib = 1;
  /** Engine threads on the CPU backend; 0 means one per core. */
  @IsInt() @Min(0) @Max(1024) cpuThreads = 0;
  /** K/V element type; `auto` is the backend's choice. The engine refuses at load what it cannot store. */
  @IsIn(KV_CACHE_DTYPES) kvCacheDtype: (typeof KV_CACHE_DTYPES)[number] = 'auto';
  /** Tokens per KV block. */
  @IsIn(BLOCK_SIZES) blockSize: (typeof BLOCK_SIZES)[number] = 16;
  /** Kept for vLLM command lines; only 1 is accepted until tensor parallelism exists. */
  @IsInt() @Min(1) @Max(1) tensorParallelSize = 1;

  // --- scale-out (docs/scale-out.md) ---------------------------------------------------------
  /** Replicas (scheduler + executor pairs) `deepinfer serve` starts on this machine: one GPU each, or a share of the CPU threads. */
  @IsInt() @Min(1) @Max(64) dataParallelSize = 1;
  /** `all`: NATS (if needed), api, tokenizer and the replicas; `frontend`: api + tokenizer; `replica`: the replicas only, joining nats_url. */
  @IsIn(ROLES) role: (typeof ROLES)[number] = 'all';
  /** The api's choice of replica: prefix-cache overlap minus load (`kv`), or `round_robin`. */
  @IsIn(ROUTERS) router: (typeof ROUTERS)[number] = 'kv';
  /** Requests carrying `user` go back to the replica that served that user last (while it lives). */
  @IsBoolean() routerSessionAffinity = false;

  // --- CUDA engine tuning (read by the executor's CUDA backend; see docs/gpu_optimization.md) --
  /** Replay decode steps from CUDA graphs (one per batch-size bucket, captured on first use). */
  @IsBoolean() cudaGraphs = true;
  /** Prefill attention kernel: tensor cores (mma) or CUDA-core FMA. */
  @IsIn(CUDA_PREFILL_ATTNS) cudaPrefillAttn: (typeof CUDA_PREFILL_ATTNS)[number] = 'mma';
  /** Decode attention kernel: tensor cores (mma), shared-memory tiles, or a warp per key. */
  @IsIn(CUDA_DECODE_ATTNS) cudaDecodeAttn: (typeof CUDA_DECODE_ATTNS)[number] = 'mma';
  /** `auto`: cuBLAS when it loads, else the built-in kernel; `cublas`: refuse to start without it. */
  @IsIn(CUDA_GEMMS) cudaGemm: (typeof CUDA_GEMMS)[number] = 'auto';
  /** A libcublas.so.N to load before searching the usual places. */
  @IsOptional() @IsString() @MinLength(1) cublasPath?: string = undefined;
  /**
   * Largest batch the executor decodes one step ahead of the scheduler's next message (its
   * tokens are then ready when that step arrives); 0 turns decode-ahead off.
   */
  @IsInt() @Min(0) @Max(4096) decodeAheadMaxSeqs = 8;
  /**
   * Worker threads computing guided-decoding masks (and compiling grammars) off the executor's
   * event loop; 0 = on the event loop; -1 (default) = min(4, max(1, cores − 2)).
   */
  @IsInt() @Min(-1) @Max(64) guidedDecodingWorkers = -1;

  // --- the simulated device (device: sim; a measuring instrument, see libs/sim-device) -------
  /** The card whose step times the simulator models. */
  @IsIn(SIM_PROFILE_NAMES) simProfile: (typeof SIM_PROFILE_NAMES)[number] = 'rtx5090';
  /** Overrides of the profile's peak memory bandwidth (GB/s), bf16 matmul rate (TFLOP/s) and memory (GiB). */
  @IsOptional() @IsNumber() @Min(1) @Max(100_000) simBandwidthGbps?: number = undefined;
  @IsOptional() @IsNumber() @Min(1) @Max(100_000) simTflops?: number = undefined;
  @IsOptional() @IsNumber() @Min(1) @Max(4096) simMemoryGib?: number = undefined;

  // --- scheduling ----------------------------------------------------------------------------
  /** Most sequences in one step. */
  @IsInt() @Min(1) @Max(4096) maxNumSeqs = 256;
  /** Token budget of one step (prefill chunks + decode tokens). */
  @IsInt() @Min(1) @Max(1_048_576) maxNumBatchedTokens = 2048;
  @IsBoolean() enableChunkedPrefill = true;
  @IsBoolean() enablePrefixCaching = true;
  /** Schedule and send the next step while one is at the executor (vLLM's async scheduling). */
  @IsBoolean() asyncScheduling = true;

  // --- serving -------------------------------------------------------------------------------
  @IsString() @MinLength(1) host = '0.0.0.0';
  /** The OpenAI-compatible API's port. */
  @IsInt() @Min(1) @Max(65535) port = 8000;
  /** When set, clients must send `Authorization: Bearer <api_key>`. */
  @IsOptional() @IsString() @MinLength(1) apiKey?: string = undefined;
  /** Answer 400 to request fields the API does not know (OpenAI's behaviour) instead of warning and ignoring them (vLLM's). */
  @IsBoolean() rejectUnknownFields = false;
  /** The tool-call format the api parses and enforces (vLLM's --tool-call-parser); auto: the one the chat template shows. */
  @IsIn(TOOL_CALL_PARSERS) toolCallParser: (typeof TOOL_CALL_PARSERS)[number] = 'auto';
  /** When set, admin routes need `Authorization: Bearer <admin_key>`. */
  @IsOptional() @IsString() @MinLength(1) adminKey?: string = undefined;
  /** Admin HTTP ports, one per service (health, metrics, service-specific views). */
  @IsInt() @Min(1) @Max(65535) apiAdminPort = 9100;
  @IsInt() @Min(1) @Max(65535) tokenizerAdminPort = 9101;
  @IsInt() @Min(1) @Max(65535) schedulerAdminPort = 9102;
  @IsInt() @Min(1) @Max(65535) executorAdminPort = 9103;

  // --- messaging and logs --------------------------------------------------------------------
  @IsString() @MinLength(1) natsUrl = 'nats://127.0.0.1:4222';
  @IsOptional() @IsString() natsUser?: string = undefined;
  @IsOptional() @IsString() natsPassword?: string = undefined;
  @IsIn(LOG_LEVEL_NAMES) logLevel: (typeof LOG_LEVEL_NAMES)[number] = 'info';
  @IsIn(LOG_FORMATS) logFormat: (typeof LOG_FORMATS)[number] = 'text';
}

export type ConfigKey = keyof DeepInferConfig;
