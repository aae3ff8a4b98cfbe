import { matmulParams, type ModelShape } from '../model-shape/model-shape.js';
import type { SimDeviceProfile } from '../profile/sim-device-profile.js';

/** One sequence of a step, as the cost model of the simulated device sees it. */
export interface StepCostSequence {
  /** Tokens computed in this step (1 for a decode, the chunk length for a prefill). */
  numTokens: number;
  /** Positions attended after this step: startPos + numTokens. */
  contextLen: number;
}

/**
 * The step-time model of the simulated device — a MEASURING INSTRUMENT that gives the stack
 * GPU-like step times without a GPU; no figure it produces is a measurement. A roofline with
 * calibrated efficiencies (see SimDeviceProfile), for a dense decoder in bf16:
 *
 *   memoryMs  = weightBytesPerStep / (BW × weightStreamEfficiency)
 *             + Σ_seq contextLen × kvBytesPerToken / (BW × kvStreamEfficiency)
 *   computeMs = (2 × matmulParams × Σ_seq numTokens
 *                + 4 × layers × heads × headDim × Σ_token positions it attends)
 *             / (FLOPS × matmulEfficiency)
 *   stepMs    = max(memoryMs, computeMs) + stepOverheadMs
 *
 * - The weights are streamed once per step whatever the batch (the GEMMs reuse each weight
 *   across the batch's rows); matmulParams leaves out the input embedding (a row gather).
 * - Each sequence's K/V is read once per step (decode attention, and the flash-style prefill
 *   that keeps a chunk's queries on chip); the new tokens' K/V writes are in contextLen.
 * - Attention FLOPs: QKᵀ and PV, 2 × headDim each per (query, key) pair and head; a chunk of n
 *   tokens after s cached positions attends n·s + n(n+1)/2 pairs (causal).
 * - The lm_head is counted for every token (the engine only computes it for sampled rows; on
 *   Llama-3.1-8B's shape that overstates a long prefill by ~7 %, absorbed by the calibration).
 * - Not modelled: tensor/pipeline parallelism, quantised weights, clock throttling, the CPU
 *   side of the engine (its cost is the host's, which the stack measures for real).
 *
 * Calibrated on the H200 measurements of docs/gpu-validation.md (the spec reproduces each within
 * 10 %; they land within 2 %).
 */
export class StepTimeModel {
  /** Every parameter × bytesPerElement. */
  readonly weightBytes: number;
  /** The weights a step streams: matmulParams × bytesPerElement. */
  readonly weightBytesPerStep: number;
  /** K and V of one position in every layer: 2 × layers × kvHeads × headDim × bytesPerElement. */
  readonly kvBytesPerToken: number;
  /** FLOPs of one token through the matmuls: 2 × matmulParams. */
  readonly matmulFlopsPerToken: number;
  /** FLOPs of one (query, key) pair of attention over all layers and heads. */
  readonly attentionFlopsPerPair: number;
  /** Time to stream the weights once, ms (the floor of every step's memory time). */
  readonly weightStreamMs: number;
  private readonly kvMsPerToken: number;
  private readonly msPerFlop: number;

  constructor(
    readonly shape: ModelShape,
    readonly profile: SimDeviceProfile,
    /** 2 = bf16 weights and K/V. */
    readonly bytesPerElement = 2,
  ) {
    const matmul = matmulParams(shape);
    this.weightBytes = shape.numParams * bytesPerElement;
    this.weightBytesPerStep = matmul * bytesPerElement;
    this.kvBytesPerToken = 2 * shape.numLayers * shape.numKvHeads * shape.headDim * bytesPerElement;
    this.matmulFlopsPerToken = 2 * matmul;
    this.attentionFlopsPerPair = 4 * shape.numLayers * shape.numHeads * shape.headDim;
    const bw = profile.memoryBandwidthBytesPerS;
    this.weightStreamMs = (this.weightBytesPerStep / (bw * profile.weightStreamEfficiency)) * 1e3;
    this.kvMsPerToken = (this.kvBytesPerToken / (bw * profile.kvStreamEfficiency)) * 1e3;
    this.msPerFlop = 1e3 / (profile.matmulFlopsPerS * profile.matmulEfficiency);
  }

  /** Modelled device time of one step, ms (0 for an empty step: nothing is launched). */
  stepTimeMs(sequences: readonly StepCostSequence[]): number {
    if (sequences.length === 0) return 0;
    let numTokens = 0;
    let kvTokens = 0;
    let attentionPairs = 0;
    for (let i = 0; i < sequences.length; i++) {
      const { numTokens: n, contextLen } = sequences[i]!;
      numTokens += n;
      kvTokens += contextLen;
      attentionPairs += n * (contextLen - n) + (n * (n + 1)) / 2;
    }
    return this.timeMs(numTokens, kvTokens, attentionPairs);
  }

  /** The same from the step's totals (what stepTimeMs sums), for callers that already have them. */
  timeMs(numTokens: number, kvTokens: number, attentionPairs: number): number {
    const memoryMs = this.weightStreamMs + kvTokens * this.kvMsPerToken;
    const computeMs = (numTokens * this.matmulFlopsPerToken + attentionPairs * this.attentionFlopsPerPair) * this.msPerFlop;
    return Math.max(memoryMs, computeMs) + this.profile.stepOverheadMs;
  }

  /** The model's figures in one line (engine info's backendDetails). */
  describe(): string {
    const p = this.profile;
    return (
      `step-time model (a measuring instrument, not a device) of ${p.deviceName}: ` +
      `${(p.memoryBandwidthBytesPerS / 1e9).toFixed(0)} GB/s × ${p.weightStreamEfficiency} (weights) / × ${p.kvStreamEfficiency} (K/V), ` +
      `${(p.matmulFlopsPerS / 1e12).toFixed(1)} TFLOP/s × ${p.matmulEfficiency}, +${p.stepOverheadMs} ms per step; ` +
      `weights ${(this.weightBytesPerStep / 1e9).toFixed(2)} GB per step = ${this.weightStreamMs.toFixed(2)} ms, ` +
      `K/V ${this.kvBytesPerToken} B per position`
    );
  }
}
