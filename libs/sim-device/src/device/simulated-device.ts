import { maskedSampling, settledMasks, type EngineSample, type EngineSequence, type RowMask, type StepEngine, type StepMasks } from '@deepinfer/executor-core';
import { DeviceClock } from '../clock/device-clock.js';
import { DeviceTimer } from '../clock/device-timer.js';
import { planKvMemory } from '../memory-plan/kv-memory-plan.js';
import type { ModelShape } from '../model-shape/model-shape.js';
import { readModelShape } from '../model-shape/read-model-shape.js';
import type { SimDeviceProfile } from '../profile/sim-device-profile.js';
import { StepTimeModel } from '../time-model/step-time-model.js';
import { DeviceRng } from '../tokens/device-rng.js';
import { modelRoot } from '../tokens/fingerprint.js';
import { KvFingerprintStore } from '../tokens/kv-fingerprint-store.js';
import { TokenSampler } from '../tokens/token-sampler.js';
import type { EngineInfo } from '@deepinfer/engine';

// Module constants for what the per-sequence checks call: global lookups are slow in jest's vm context.
const { ceil } = Math;
const { isInteger } = Number;

const BYTES_PER_ELEMENT = 2; // bf16 weights and K/V
/** 2²⁸ slots = 4 GiB of host memory for the fingerprints; beyond it, ask for fewer blocks. */
const MAX_SLOTS = 2 ** 28;

export interface SimulatedDeviceOptions {
  /** A model directory with config.json (and generation_config.json); no weights are read. */
  model: string;
  profile: SimDeviceProfile;
  /** Tokens per KV block. */
  blockSize: number;
  /** Fraction of the card's memory for weights, activations and KV (decides numKvBlocks, see planKvMemory). */
  gpuMemoryUtilization: number;
  /** Largest step, tokens: sizes the modelled activation scratch. */
  maxNumBatchedTokens: number;
  /** Seed of the device generator (unseeded random sampling). */
  seed: number;
  /** KV blocks, in place of the memory plan's count (must still fit the card's memory). */
  numKvBlocks?: number;
}

/** What the device did since creation. */
export interface SimulatedDeviceStats {
  numSteps: number;
  /** Modelled device time of all steps, ms. */
  busyMs: number;
  /** Tokens computed (prefill and decode). */
  numTokens: number;
}

/**
 * A step's forward pass done (KV written, each sampling row's context digest and draw taken), its
 * sampling not yet: what sampling needs once the masks are there.
 */
interface ForwardedStep {
  /** Per sequence: its context digest, sampled position and engine draw; undefined when it does not sample. */
  readonly rows: ({ digestHi: number; digestLo: number; position: number; engineUniform: number } | undefined)[];
  readonly stepTimeMs: number;
}

/** One step computed without waiting: the samples and the step's modelled device time. */
export interface ComputedStep {
  readonly samples: (EngineSample | undefined)[];
  readonly stepTimeMs: number;
}

/**
 * A simulated GPU — a MEASURING INSTRUMENT, not an engine: it lets the whole stack (executor,
 * scheduler, transport, api) run at the step rates of a real card (StepTimeModel of a
 * SimDeviceProfile) on a machine without one, so that the host side can be measured against
 * realistic device time. It implements the executor's StepEngine like the native engine:
 *
 * - Timing: steps run back to back on one device. A step's tokens are computed at the call
 *   (host cost, ~µs), then step() resolves when the step's modelled time has elapsed on the
 *   real clock, counted from when the device was free to start it (the call, or the end of the
 *   step before it) — so the host computation is inside the modelled time, not added to it.
 *   The wait is a worker thread sleeping in Atomics.wait (DeviceTimer), off the event loop.
 * - Tokens: deterministic functions of the context as read through the block tables from a
 *   simulated KV cache of fingerprints (KvFingerprintStore, TokenSampler): batching, chunking
 *   and correct prefix-cache hits never change them; a wrong block table, position or cache
 *   hit does. They are not a model's output and mean nothing as text.
 * - Memory: KV blocks as the CUDA backend would plan them on the card (planKvMemory).
 * - Validation: a step with a block outside the cache, a table too short for its positions, or
 *   a token or biased id outside the vocabulary is rejected whole before anything is written,
 *   as the native engine rejects it.
 *
 * No test of the real engine uses it; tests of the stack's timing and throughput may.
 */
export class SimulatedDevice implements StepEngine {
  /**
   * What the executor reports about its engine, in the native engine's own type (so the executor
   * registers the simulator like an engine); the values say what it is: backend `sim-<profile>`,
   * deviceName `simulated <card> (step-time model, not a device)`, weights and KV in bf16.
   */
  readonly info: EngineInfo;
  readonly timeModel: StepTimeModel;
  readonly shape: ModelShape;
  readonly stats: SimulatedDeviceStats = { numSteps: 0, busyMs: 0, numTokens: 0 };

  private readonly blockSize: number;
  private readonly numKvBlocks: number;
  private readonly kv: KvFingerprintStore;
  private readonly sampler: TokenSampler;
  private readonly rng: DeviceRng;
  private readonly rootHi: number;
  private readonly rootLo: number;
  private readonly clock = new DeviceClock();
  private readonly timer: DeviceTimer;
  /** When the last step given to the device ends, device clock ms. */
  private deviceFreeAtMs = 0;
  private closed = false;

  /** Reads the model's config (no weights) and plans the KV cache; throws with the figures when nothing fits. */
  static async create(options: SimulatedDeviceOptions): Promise<SimulatedDevice> {
    const device = new SimulatedDevice(readModelShape(options.model), options);
    await device.timer.ready(); // the first step must not wait for the timer thread to start
    return device;
  }

  private constructor(shape: ModelShape, options: SimulatedDeviceOptions) {
    const { profile, blockSize } = options;
    this.shape = shape;
    this.timeModel = new StepTimeModel(shape, profile, BYTES_PER_ELEMENT);
    const plan = planKvMemory({
      shape,
      memoryBytes: profile.memoryBytes,
      gpuMemoryUtilization: options.gpuMemoryUtilization,
      blockSize,
      maxNumBatchedTokens: options.maxNumBatchedTokens,
      weightBytes: this.timeModel.weightBytes,
      bytesPerElement: BYTES_PER_ELEMENT,
    });
    const numKvBlocks = options.numKvBlocks ?? plan.numKvBlocks;
    if (!Number.isInteger(numKvBlocks) || numKvBlocks < 1) throw new RangeError(`numKvBlocks must be a positive integer, got ${numKvBlocks}`);
    const usedBytes = this.timeModel.weightBytes + plan.activationReserveBytes + numKvBlocks * plan.kvBlockBytes;
    if (usedBytes > profile.memoryBytes) {
      throw new RangeError(
        `simulated device: ${numKvBlocks} KV blocks of ${plan.kvBlockBytes} bytes do not fit ${profile.deviceName}'s ${Math.round(profile.memoryBytes / 2 ** 20)} MiB ` +
          `beside ${Math.round(this.timeModel.weightBytes / 2 ** 20)} MiB of weights and ${Math.round(plan.activationReserveBytes / 2 ** 20)} MiB of activations (at most ${Math.floor((profile.memoryBytes - this.timeModel.weightBytes - plan.activationReserveBytes) / plan.kvBlockBytes)})`,
      );
    }
    if (numKvBlocks * blockSize > MAX_SLOTS) {
      throw new RangeError(`simulated device: ${numKvBlocks} KV blocks × ${blockSize} slots exceed the ${MAX_SLOTS} fingerprints it keeps in host memory; set numKvBlocks`);
    }
    this.blockSize = blockSize;
    this.numKvBlocks = numKvBlocks;
    this.kv = new KvFingerprintStore(numKvBlocks, blockSize);
    this.sampler = new TokenSampler(shape.vocabSize, shape.bosTokenId);
    this.rng = new DeviceRng(options.seed);
    this.timer = new DeviceTimer(this.clock);
    const root = modelRoot(shape);
    this.rootHi = root.hi;
    this.rootLo = root.lo;

    const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
    this.info = {
      numLayers: shape.numLayers,
      numHeads: shape.numHeads,
      numKvHeads: shape.numKvHeads,
      headDim: shape.headDim,
      hiddenSize: shape.hiddenSize,
      vocabSize: shape.vocabSize,
      maxPositionEmbeddings: shape.maxPositionEmbeddings,
      bosTokenId: shape.bosTokenId,
      eosTokenIds: Object.freeze([...shape.eosTokenIds]),
      architecture: shape.architecture,
      weightDtype: 'BF16',
      dtype: 'bfloat16',
      kvCacheDtype: 'bfloat16',
      weightQuantization: '',
      backend: `sim-${profile.name}`,
      weightBytes: this.timeModel.weightBytes,
      weightBytesPerStep: this.timeModel.weightBytesPerStep,
      blockSize,
      numKvBlocks,
      kvBlockBytes: plan.kvBlockBytes,
      numThreads: 0,
      deviceName: `simulated ${profile.deviceName}${profile.name === 'custom' ? ' with custom peaks' : ''} (step-time model, not a device)`,
      deviceFreeBytes: profile.memoryBytes - usedBytes,
      deviceTotalBytes: profile.memoryBytes,
      backendDetails:
        `${this.timeModel.describe()}; memory plan: ${mib(profile.memoryBytes)} × ${options.gpuMemoryUtilization} − weights ${mib(this.timeModel.weightBytes)} ` +
        `− activations ${mib(plan.activationReserveBytes)} → ${numKvBlocks} KV blocks of ${mib(plan.kvBlockBytes)}${options.numKvBlocks === undefined ? '' : ' (set explicitly)'}`,
      // The simulator models a step's time, not how the kernels are launched.
      cudaGraphsCaptured: 0,
    };
  }

  /**
   * Runs one step: computes its tokens now, then resolves when its modelled time has elapsed
   * (see the class comment). Rejects a malformed step without touching the KV cache.
   */
  async step(sequences: readonly EngineSequence[], masks?: StepMasks): Promise<(EngineSample | undefined)[]> {
    if (this.closed) throw new Error('the simulated device is closed');
    const calledAtMs = this.clock.nowMs();
    masks?.masks.catch(() => undefined); // settled after the forward pass (settledMasks); not unhandled meanwhile
    const forwarded = this.forward(sequences);
    if (sequences.length === 0) return [];
    const startMs = Math.max(calledAtMs, this.deviceFreeAtMs);
    this.deviceFreeAtMs = startMs + forwarded.stepTimeMs;
    // The forward pass takes the modelled time; sampling then waits for the guided masks
    // (computed by the executor meanwhile). The modelled sampling itself is inside the step
    // time, so a wait here delays this step's end and the device's next start.
    await this.timer.sleepUntil(this.deviceFreeAtMs);
    if (masks) {
      const forwardEndMs = this.clock.nowMs();
      const rows = await settledMasks(masks, sequences.length);
      const waitedMs = this.clock.nowMs() - forwardEndMs;
      masks.waitedMs = waitedMs;
      this.deviceFreeAtMs = Math.max(this.deviceFreeAtMs, this.clock.nowMs());
      return this.sample(sequences, forwarded, rows);
    }
    return this.sample(sequences, forwarded, undefined);
  }

  /**
   * The step's samples and modelled time, without waiting: for callers that keep simulated time
   * themselves (a benchmark running faster than real time). Same validation, KV writes, draws
   * and stats as step(); `masks`: the guided sequences' masks (StepMasks' entries).
   */
  computeStep(sequences: readonly EngineSequence[], masks?: readonly RowMask[]): ComputedStep {
    const forwarded = this.forward(sequences);
    return { samples: this.sample(sequences, forwarded, masks), stepTimeMs: forwarded.stepTimeMs };
  }

  /** Samples each sampling row of a forwarded step under its mask (none for a guided row without one). */
  private sample(sequences: readonly EngineSequence[], forwarded: ForwardedStep, masks: readonly RowMask[] | undefined): (EngineSample | undefined)[] {
    const samples: (EngineSample | undefined)[] = new Array(sequences.length);
    for (let i = 0; i < sequences.length; i++) {
      const row = forwarded.rows[i];
      if (!row) continue;
      const sampling = maskedSampling(sequences[i]!, masks?.[i]);
      if (sampling) samples[i] = this.sampler.sample(row.digestHi, row.digestLo, sampling, row.position, row.engineUniform);
    }
    return samples;
  }

  /** Validates the step, writes its KV and takes what each sampling row needs (ForwardedStep). */
  private forward(sequences: readonly EngineSequence[]): ForwardedStep {
    if (this.closed) throw new Error('the simulated device is closed');
    for (let i = 0; i < sequences.length; i++) this.validate(sequences[i]!, i);

    let numTokens = 0;
    let kvTokens = 0;
    let attentionPairs = 0;
    for (const s of sequences) {
      this.kv.writeChunk(s.blockTable, s.startPos, s.tokenIds, this.rootHi, this.rootLo);
      const n = s.tokenIds.length;
      numTokens += n;
      kvTokens += s.startPos + n;
      attentionPairs += n * s.startPos + (n * (n + 1)) / 2;
    }
    // Every write of the step happens before any read, as on the device.
    const rows: ForwardedStep['rows'] = new Array(sequences.length);
    for (let i = 0; i < sequences.length; i++) {
      const s = sequences[i]!;
      if (!s.sample) continue;
      const engineUniform = this.rng.nextUniform(); // one draw per sampling sequence, in input order
      const end = s.startPos + s.tokenIds.length;
      this.kv.digest(s.blockTable, end, this.rootHi, this.rootLo);
      rows[i] = { digestHi: this.kv.digestHi, digestLo: this.kv.digestLo, position: end, engineUniform };
    }

    const stepTimeMs = sequences.length === 0 ? 0 : this.timeModel.timeMs(numTokens, kvTokens, attentionPairs);
    if (sequences.length > 0) this.stats.numSteps++;
    this.stats.busyMs += stepTimeMs;
    this.stats.numTokens += numTokens;
    return { rows, stepTimeMs };
  }

  /** Forgets every KV slot (a device reset); the scheduler must be told to drop its prefix cache. */
  resetKvCache(): void {
    this.kv.clear();
  }

  /** Stops the timer thread; pending steps reject, later ones too. */
  close(): void {
    this.closed = true;
    this.timer.close();
  }

  private validate(s: EngineSequence, index: number): void {
    const n = s.tokenIds.length;
    const where = `step sequence ${index}`;
    if (n < 1) throw new RangeError(`${where}: no tokens to compute`);
    if (!isInteger(s.startPos) || s.startPos < 0) throw new RangeError(`${where}: startPos ${s.startPos} is not a position`);
    const end = s.startPos + n;
    const numBlocks = ceil(end / this.blockSize);
    if (s.blockTable.length < numBlocks) throw new RangeError(`${where}: ${s.blockTable.length} blocks of ${this.blockSize} cannot hold positions [0, ${end})`);
    for (let j = 0; j < numBlocks; j++) {
      const block = s.blockTable[j]!;
      if (block < 0 || block >= this.numKvBlocks) throw new RangeError(`${where}: block ${block} does not exist (${this.numKvBlocks} blocks)`);
    }
    const vocabSize = this.shape.vocabSize;
    for (let i = 0; i < n; i++) {
      const t = s.tokenIds[i]!;
      if (t < 0 || t >= vocabSize) throw new RangeError(`${where}: token ${t} is outside the vocabulary (${vocabSize})`);
    }
    if (s.sample) {
      const ids = s.sampling.logitBiasIds;
      for (let i = 0; i < ids.length; i++) {
        if (ids[i]! < 0 || ids[i]! >= vocabSize) throw new RangeError(`${where}: logit bias id ${ids[i]} is outside the vocabulary (${vocabSize})`);
      }
    }
  }
}
