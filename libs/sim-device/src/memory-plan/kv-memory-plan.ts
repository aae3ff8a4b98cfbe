import type { ModelShape } from '../model-shape/model-shape.js';

/**
 * The simulated device's (a measuring instrument's) memory plan: how many KV blocks the real
 * CUDA backend would allocate on the card. It follows CudaBackend::plan_kv_blocks:
 *
 *   numKvBlocks = floor((memoryBytes × gpuMemoryUtilization − weightBytes − activationReserveBytes) / kvBlockBytes)
 *
 * where the activation reserve is what is in use after the engine's profiling step besides the
 * weights: the CUDA context, cuBLAS workspaces and kernel modules (runtimeReserveBytes) plus the
 * step scratch CudaBackend::reserve() allocates for maxNumBatchedTokens tokens and
 * min(maxNumBatchedTokens, 256) sampled rows.
 */
export interface KvMemoryPlan {
  readonly numKvBlocks: number;
  /** K and V of blockSize positions in every layer. */
  readonly kvBlockBytes: number;
  readonly weightBytes: number;
  readonly activationReserveBytes: number;
  /** memoryBytes × gpuMemoryUtilization. */
  readonly budgetBytes: number;
}

export interface KvMemoryPlanInput {
  readonly shape: ModelShape;
  readonly memoryBytes: number;
  readonly gpuMemoryUtilization: number;
  readonly blockSize: number;
  readonly maxNumBatchedTokens: number;
  readonly weightBytes: number;
  /** 2 = bf16. */
  readonly bytesPerElement: number;
}

/**
 * The CUDA context, cuBLAS workspaces and kernel modules: 609 MiB measured on the H200 (run 1 of
 * docs/gpu-validation.md: 0.5 × 143,156 MiB − 70,969 MiB of KV for a fixture model whose weights
 * and scratch are a few MiB). Other cards and drivers differ by some 100 MiB; a desktop GPU
 * driving a display loses more.
 */
export const RUNTIME_RESERVE_BYTES = 609 * 1024 * 1024;

/** Split-K partitions of decode attention at most (native/src/backends/cuda/step_plan.h kDecodeMaxParts). */
const DECODE_MAX_PARTS = 16;

/** Scratch of CudaBackend::reserve(maxTokens, maxRows): activations in f32 or the served type, partials, logits. */
export function activationScratchBytes(shape: ModelShape, maxNumBatchedTokens: number, bytesPerElement: number): number {
  const d = shape.hiddenSize;
  const i = shape.intermediateSize;
  const qDim = shape.numHeads * shape.headDim;
  const kvDim = shape.numKvHeads * shape.headDim;
  const t = maxNumBatchedTokens;
  const rows = Math.min(t, 256);
  // x (f32), xn, qkv (f32), attn, gate+up (f32), h
  const perToken = d * 4 + d * bytesPerElement + (qDim + 2 * kvDim) * 4 + qDim * bytesPerElement + 2 * i * 4 + i * bytesPerElement;
  // decode partial outputs and (max, sum) pairs, f32
  const partials = rows * shape.numHeads * DECODE_MAX_PARTS * (shape.headDim + 2) * 4;
  // sampled rows' hidden states, logits and the sampler's work buffer (f32)
  const perRow = d * bytesPerElement + shape.vocabSize * 4 * 2;
  return t * perToken + partials + rows * perRow;
}

/** The plan, or an error that gives every figure when the KV cache would get no block. */
export function planKvMemory(input: KvMemoryPlanInput): KvMemoryPlan {
  const { shape, memoryBytes, gpuMemoryUtilization, blockSize, maxNumBatchedTokens, weightBytes, bytesPerElement } = input;
  if (!(gpuMemoryUtilization > 0 && gpuMemoryUtilization <= 1)) throw new RangeError(`gpuMemoryUtilization must be in (0, 1], got ${gpuMemoryUtilization}`);
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`blockSize must be a positive integer, got ${blockSize}`);
  if (!Number.isInteger(maxNumBatchedTokens) || maxNumBatchedTokens < 1) throw new RangeError(`maxNumBatchedTokens must be a positive integer, got ${maxNumBatchedTokens}`);
  const kvBlockBytes = 2 * shape.numLayers * shape.numKvHeads * shape.headDim * bytesPerElement * blockSize;
  const activationReserveBytes = RUNTIME_RESERVE_BYTES + activationScratchBytes(shape, maxNumBatchedTokens, bytesPerElement);
  const budgetBytes = memoryBytes * gpuMemoryUtilization;
  const numKvBlocks = Math.floor((budgetBytes - weightBytes - activationReserveBytes) / kvBlockBytes);
  if (numKvBlocks < 1) {
    const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
    throw new RangeError(
      `simulated device: gpuMemoryUtilization ${gpuMemoryUtilization} of ${mib(memoryBytes)} (${mib(budgetBytes)}) leaves no room for the KV cache: ` +
        `weights ${mib(weightBytes)} + activations ${mib(activationReserveBytes)} (at ${maxNumBatchedTokens} tokens per step); one KV block is ${mib(kvBlockBytes)}`,
    );
  }
  return { numKvBlocks, kvBlockBytes, weightBytes, activationReserveBytes, budgetBytes };
}
