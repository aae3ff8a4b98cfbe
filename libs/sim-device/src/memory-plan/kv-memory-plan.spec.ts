import { readModelShape } from '../model-shape/read-model-shape.js';
import { SIM_PROFILES } from '../profile/sim-device-profile.js';
import { LLAMA_31_8B_CONFIG, writeModelDir } from '../test-support/model-dirs.js';
import { StepTimeModel } from '../time-model/step-time-model.js';
import { activationScratchBytes, planKvMemory, RUNTIME_RESERVE_BYTES } from './kv-memory-plan.js';

const shape = readModelShape(writeModelDir(LLAMA_31_8B_CONFIG));
const weightBytes = new StepTimeModel(shape, SIM_PROFILES.rtx5090).weightBytes;
const plan = (memoryBytes: number, gpuMemoryUtilization: number, maxNumBatchedTokens = 8192) =>
  planKvMemory({ shape, memoryBytes, gpuMemoryUtilization, blockSize: 16, maxNumBatchedTokens, weightBytes, bytesPerElement: 2 });

describe('planKvMemory', () => {
  it('gives Llama-3.1-8B on an RTX 5090 at 0.9 5,767 blocks of 2 MiB (92K tokens of KV)', () => {
    const p = plan(SIM_PROFILES.rtx5090.memoryBytes, 0.9);
    expect(p.kvBlockBytes).toBe(16 * 131072);
    // 32,607 MiB × 0.9 = 30.77 GB; − 16.06 GB of weights; − 609 MiB runtime; − the 8,192-token scratch.
    const scratch = activationScratchBytes(shape, 8192, 2);
    expect(scratch).toBe(8192 * 200_704 + 256 * 32 * 16 * 130 * 4 + 256 * (4096 * 2 + 128_256 * 8));
    expect(p.activationReserveBytes).toBe(RUNTIME_RESERVE_BYTES + scratch);
    expect(p.numKvBlocks).toBe(Math.floor((32_607 * 2 ** 20 * 0.9 - 16_060_522_496 - RUNTIME_RESERVE_BYTES - scratch) / (16 * 131072)));
    expect(p.numKvBlocks).toBe(5767); // 92,272 tokens of KV
  });

  it('gives more blocks for a smaller step scratch and a larger card', () => {
    expect(plan(SIM_PROFILES.rtx5090.memoryBytes, 0.9, 2048).numKvBlocks).toBeGreaterThan(plan(SIM_PROFILES.rtx5090.memoryBytes, 0.9).numKvBlocks);
    expect(plan(SIM_PROFILES.h200.memoryBytes, 0.9).numKvBlocks).toBeGreaterThan(55_000);
  });

  it('refuses, with every figure, when nothing is left for the KV cache', () => {
    expect(() => plan(SIM_PROFILES.rtx4090.memoryBytes, 0.6)).toThrow(
      /gpuMemoryUtilization 0.6 of 24564 MiB \(14738 MiB\) leaves no room for the KV cache: weights 15317 MiB \+ activations \d+ MiB \(at 8192 tokens per step\); one KV block is 2 MiB/,
    );
    expect(() => plan(SIM_PROFILES.h200.memoryBytes, 0)).toThrow(/gpuMemoryUtilization must be in \(0, 1\]/);
  });
});
