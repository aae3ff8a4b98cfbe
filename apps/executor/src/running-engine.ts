import type { EngineInfo } from '@deepinfer/engine';
import type { StepEngine } from '@deepinfer/executor-core';

/** The simulated device's counters (device: sim), for GET /executor and the benchmarks. */
export interface SimulatorReport {
  /** The modelled card, e.g. `rtx5090`, or `custom` with overridden figures. */
  readonly profile: string;
  /** Steps run, modelled device time (ms) and tokens computed since load. */
  stats(): { numSteps: number; busyMs: number; numTokens: number };
}

/**
 * What the executor runs steps on, whichever the device: the native engine (cpu, cuda) or the
 * simulated GPU (sim, a measuring instrument). The executor's books (ExecutorState) only see
 * `stepEngine`; the admin routes and metrics read `info`.
 */
export interface RunningEngine {
  readonly stepEngine: StepEngine;
  readonly info: EngineInfo;
  /** For logs and registration: `cpu:avx2`, `cuda:NVIDIA H200`, `sim:rtx5090`. */
  readonly device: string;
  readonly simulator?: SimulatorReport;
  /** Decode-step CUDA graphs captured so far (native engine; 0 on the CPU backend). */
  cudaGraphsCaptured?(): number;
  close(): void;
}
