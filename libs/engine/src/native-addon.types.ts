// The shape of the compiled addon (native/binding, deepinfer_native.node). Only this library
// sees it; everything else uses the facade in engine.ts.

/** What `createEngine` takes; 0 / absent means the engine's default (see engine.h). */
export interface NativeEngineConfig {
  model: string;
  /** Default cpu; auto: CUDA when built in and a GPU is present. */
  backend?: 'cpu' | 'cuda' | 'auto';
  /** CUDA: fraction of device memory for weights, activations and KV (default 0.9). */
  gpuMemoryUtilization?: number;
  threads?: number;
  blockSize?: number;
  numKvBlocks?: number;
  maxNumBatchedTokens?: number;
  seed?: number | bigint;
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
  weightDtype: string;
  backend: string;
  weightBytes: number;
  weightBytesPerStep: number;
  blockSize: number;
  numKvBlocks: number;
  kvBlockBytes: number;
  numThreads: number;
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
}

export interface NativeStepSeq {
  tokenIds: Int32Array;
  startPos?: number;
  blockTable: Int32Array;
  sample?: boolean;
  sampling?: NativeSamplingParams;
  promptIds?: Int32Array;
  outputIds?: Int32Array;
}

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
}

export interface NativeEngine {
  info(): NativeEngineInfo;
  step(seqs: readonly NativeStepSeq[], options?: { logits?: boolean }): Promise<NativeStepOutput>;
  close(): void;
  readonly busy: boolean;
  readonly closed: boolean;
}

export interface NativeAddon {
  createEngine(config: NativeEngineConfig): Promise<NativeEngine>;
  probeModel(model: string, blockSize?: number): NativeModelProbe;
  cpuKernelPath(): string;
}
