/**
 * What the simulated device (a measuring instrument) reports about itself: exactly the field
 * names and types of the native engine's info (libs/engine's NativeEngineInfo), so the executor
 * registers it like an engine. The values say what it is: backend `sim-<profile>`, deviceName
 * `simulated <card> (step-time model, not a device)`, backendDetails the model's figures.
 */
export interface SimEngineInfo {
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  /** -1 when the model has none. */
  bosTokenId: number;
  eosTokenIds: number[];
  architecture: string;
  /** 'BF16': the simulator models a bf16 checkpoint. */
  weightDtype: string;
  /** 'bfloat16'. */
  dtype: string;
  /** 'bfloat16'. */
  kvCacheDtype: string;
  /** `sim-<profile name>`, e.g. 'sim-rtx5090' or 'sim-custom'. */
  backend: string;
  /** Every parameter in bf16, bytes. */
  weightBytes: number;
  /** The weights a step streams (all but the input embedding), bytes. */
  weightBytesPerStep: number;
  blockSize: number;
  numKvBlocks: number;
  kvBlockBytes: number;
  /** 0: no host threads compute anything. */
  numThreads: number;
  deviceName: string;
  /** The modelled card's memory left after weights, activations and the KV cache, bytes. */
  deviceFreeBytes: number;
  deviceTotalBytes: number;
  /** The step-time model's and the memory plan's figures, in one line. */
  backendDetails: string;
}
