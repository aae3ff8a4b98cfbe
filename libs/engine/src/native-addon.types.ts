// The shape of the compiled addon (native/binding, deepinfer_native.node). Only this library
// sees it; everything else uses the facade in engine.ts.

/** What `createEngine` takes (the facade's EngineOptions); absent means the engine's default (engine.h). */
export interface NativeEngineConfig {
  /** A model directory, or a Hub id `org/name` resolved through the local Hugging Face cache. */
  model: string;
  /**
   * `cpu` (default), `cuda` (fails clearly when the CUDA backend is not built in or no GPU is
   * usable), or `auto` (CUDA when both, else CPU). `info.backend` says which one runs.
   */
  backend?: 'cpu' | 'cuda' | 'auto';
  /** CUDA: fraction of the device's memory the engine may use; decides the KV blocks when numKvBlocks is 0 (default 0.9). */
  gpuMemoryUtilization?: number;
  /** CPU threads; 0 or absent = one per online core. */
  threads?: number;
  /** Tokens per KV block; absent = 16. */
  blockSize?: number;
  /** KV blocks allocated once at load (see cpuKvCacheBlocks); absent: 512 on the CPU, on CUDA as many as gpuMemoryUtilization leaves. */
  numKvBlocks?: number;
  /** Largest step (tokens) the scratch buffers are sized for; larger steps still run. Absent = 2048. */
  maxNumBatchedTokens?: number;
  /** Seed of the engine RNG used by unseeded random sampling. */
  seed?: number | bigint;
  /**
   * The served weight type, converted at load: 'auto' (the checkpoint's), 'float32', 'float16',
   * 'bfloat16'. The CPU backend computes in f32 from weights rounded to it.
   */
  dtype?: string;
  /** K/V element type: 'auto' or one the backend stores (CPU: float32; CUDA: the served dtype); others fail creation. */
  kvCacheDtype?: string;
  /** CUDA: replay decode steps from CUDA graphs (default true). */
  cudaGraphs?: boolean;
  /** CUDA: prefill attention kernel, 'mma' (default) or 'fma'. */
  cudaPrefillAttn?: string;
  /** CUDA: decode attention kernel, 'mma' (default), 'tiled' or 'warp'. */
  cudaDecodeAttn?: string;
  /** CUDA: 'auto' (cuBLAS when it loads), 'cublas' (required) or 'fallback' (built-in kernel). */
  cudaGemm?: string;
  /** CUDA: the libcublas.so.N to load before searching the usual places. */
  cublasPath?: string;
}

export interface NativeEngineInfo {
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  /** -1 when the model has none */
  bosTokenId: number;
  eosTokenIds: number[];
  architecture: string;
  /** The checkpoint's dominant tensor type: 'F32', 'F16' or 'BF16'. */
  weightDtype: string;
  /** The type the weights are served in after any conversion: 'float32', 'float16' or 'bfloat16'. */
  dtype: string;
  /** The K/V cache's element type ('float8_e4m3' for kv_cache_dtype fp8). */
  kvCacheDtype: string;
  /** '' for unquantized checkpoints, else the scheme, e.g. 'fp8_e4m3 (block 128x128)' or 'fp8_e4m3 (per-channel)'. */
  weightQuantization: string;
  backend: string;
  weightBytes: number;
  weightBytesPerStep: number;
  blockSize: number;
  numKvBlocks: number;
  kvBlockBytes: number;
  numThreads: number;
  /** CUDA backend only ('' / 0 on the CPU backend), as of engine creation. */
  deviceName: string;
  deviceFreeBytes: number;
  deviceTotalBytes: number;
  /** The backend's choices: GEMM library, attention kernels, CUDA graphs. */
  backendDetails: string;
  /** Decode-step CUDA graphs captured so far (one per batch bucket used; 0 on the CPU backend). Read afresh by each info() between steps. */
  cudaGraphsCaptured: number;
}

export interface NativeModelProbe {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  blockSize: number;
  kvBlockBytes: number;
}

export interface NativeSamplingParams {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  repetitionPenalty?: number;
  seed?: number | bigint | null;
  logitBiasIds?: Int32Array;
  logitBiasValues?: Float32Array;
  numLogprobs?: number;
  /** Guided decoding: ceil(vocabSize / 32) words, bit t % 32 of word t / 32 set = token t allowed. */
  allowedTokenMask?: Uint32Array;
}

export interface NativeStepSeq {
  tokenIds: Int32Array;
  startPos?: number;
  blockTable: Int32Array;
  sample?: boolean;
  sampling?: NativeSamplingParams;
  promptIds?: Int32Array;
  outputIds?: Int32Array;
  /**
   * Guided decoding, mask delivered during the step (read when `sample`): the step starts at
   * once and waits for this row's mask from `supplyMasks` before sampling, while the forward
   * pass runs (CUDA) or after it (CPU) (then `sampling.allowedTokenMask` must be absent).
   */
  maskLater?: boolean;
}

/** A row's entry in supplyMasks: its mask (a maskLater row), or 'refuse' / undefined / null (it samples nothing). */
export type NativeRowMask = Uint32Array | 'refuse' | undefined | null;

export interface NativeTopLogprobs {
  tokenIds: Int32Array;
  logprobs: Float32Array;
}

export interface NativeStepOutput {
  tokenIds: Int32Array;
  logprobs: Float32Array;
  ranks: Int32Array;
  topLogprobs?: (NativeTopLogprobs | null)[];
  logits?: Float32Array;
  /**
   * Steps with maskLater rows: milliseconds sampling waited for supplyMasks after the forward pass
   * (CPU: the worker thread's time blocked; CUDA: the GPU's idle time before sampling).
   */
  masksWaitMs?: number;
}

export interface NativeEngine {
  info(): NativeEngineInfo;
  step(seqs: readonly NativeStepSeq[], options?: { logits?: boolean }): Promise<NativeStepOutput>;
  /**
   * The masks of the step in flight's maskLater rows, one entry per sequence of the step; copied
   * at once, releasing the step. Throws when no step awaits masks; an invalid argument refuses
   * every maskLater row (the step is released) and throws.
   */
  supplyMasks(masks: readonly NativeRowMask[]): void;
  /** Closing releases a step waiting for masks (its maskLater rows sample nothing). */
  close(): void;
  readonly busy: boolean;
  readonly closed: boolean;
  /** A step in flight has maskLater rows and has not had supplyMasks yet. */
  readonly awaitingMasks: boolean;
}

export interface NativeAddon {
  createEngine(config: NativeEngineConfig): Promise<NativeEngine>;
  probeModel(model: string, blockSize?: number, kvCacheDtype?: string): NativeModelProbe;
  cpuKernelPath(): string;
}
