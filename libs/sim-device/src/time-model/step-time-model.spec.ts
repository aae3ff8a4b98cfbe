import { readModelShape } from '../model-shape/read-model-shape.js';
import { SIM_PROFILE_NAMES, SIM_PROFILES, simProfile } from '../profile/sim-device-profile.js';
import { LLAMA_31_8B_CONFIG, LLAMA_31_GENERATION_CONFIG, writeModelDir } from '../test-support/model-dirs.js';
import { StepTimeModel, type StepCostSequence } from './step-time-model.js';

const llama8b = readModelShape(writeModelDir(LLAMA_31_8B_CONFIG, LLAMA_31_GENERATION_CONFIG));

/** docs/gpu-validation.md's benchmark: batch B at context 512, then 32 decode steps; tok/s over those steps. */
function decodeTokensPerS(model: StepTimeModel, batch: number): number {
  let totalMs = 0;
  for (let step = 0; step < 32; step++) {
    const sequences: StepCostSequence[] = Array.from({ length: batch }, () => ({ numTokens: 1, contextLen: 512 + step + 1 }));
    totalMs += model.stepTimeMs(sequences);
  }
  return (32 * batch) / (totalMs / 1e3);
}

function prefillTokensPerS(model: StepTimeModel, numTokens: number): number {
  return numTokens / (model.stepTimeMs([{ numTokens, contextLen: numTokens }]) / 1e3);
}

const decodeStepMs = (model: StepTimeModel, batch: number, contextLen: number) =>
  model.stepTimeMs(Array.from({ length: batch }, () => ({ numTokens: 1, contextLen })));

describe('StepTimeModel', () => {
  it('has the Llama-3.1-8B figures: 16.06 GB of weights, 15.0 GB streamed per step, 128 KiB of K/V per position', () => {
    const model = new StepTimeModel(llama8b, SIM_PROFILES.h200);
    expect(llama8b.numParams).toBe(8_030_261_248);
    expect(model.weightBytes).toBe(2 * 8_030_261_248);
    expect(model.weightBytesPerStep).toBe(2 * (8_030_261_248 - 128_256 * 4096));
    expect(model.kvBytesPerToken).toBe(2 * 32 * 8 * 128 * 2);
  });

  it('reproduces the H200 measurements of docs/gpu-validation.md within 10 %', () => {
    const model = new StepTimeModel(llama8b, SIM_PROFILES.h200);
    const measured: [string, number, number][] = [
      ['decode tok/s, batch 1', 200.0, decodeTokensPerS(model, 1)],
      ['decode tok/s, batch 32', 5_245, decodeTokensPerS(model, 32)],
      ['decode tok/s, batch 128', 14_052, decodeTokensPerS(model, 128)],
      ['decode tok/s, batch 256', 18_663, decodeTokensPerS(model, 256)],
      ['prefill tok/s, 2,048-token prompt', 41_732, prefillTokensPerS(model, 2048)],
    ];
    const lines = measured.map(([what, real, modelled]) => `${what.padEnd(36)} ${real.toFixed(1).padStart(9)} ${modelled.toFixed(1).padStart(9)} ${(((modelled - real) / real) * 100).toFixed(1).padStart(6)} %`);
    console.log(['H200, Llama-3.1-8B shape        measured (run 6)   model   error', ...lines].join('\n'));
    for (const [what, real, modelled] of measured) expect({ what, error: Math.abs(modelled - real) / real < 0.1 }).toEqual({ what, error: true });
  });

  it('makes a batch-256 decode step about 2.7× a batch-1 step on the H200 (memory-bound: weights once, K/V per sequence)', () => {
    const model = new StepTimeModel(llama8b, SIM_PROFILES.h200);
    const ratio = decodeStepMs(model, 256, 528) / decodeStepMs(model, 1, 528);
    expect(ratio).toBeGreaterThan(2.5);
    expect(ratio).toBeLessThan(2.9);
  });

  it('is memory-bound for decode and compute-bound for a long prefill', () => {
    const model = new StepTimeModel(llama8b, SIM_PROFILES.h200);
    // Decode: twice the context costs more, twice the batch less than twice the time.
    expect(decodeStepMs(model, 64, 2048)).toBeGreaterThan(decodeStepMs(model, 64, 1024));
    expect(decodeStepMs(model, 128, 528)).toBeLessThan(2 * decodeStepMs(model, 64, 528));
    // Prefill: time grows with the tokens, a bit faster than linearly (attention is quadratic).
    const t2k = model.stepTimeMs([{ numTokens: 2048, contextLen: 2048 }]);
    const t4k = model.stepTimeMs([{ numTokens: 4096, contextLen: 4096 }]);
    expect(t4k / t2k).toBeGreaterThan(2);
    expect(t4k / t2k).toBeLessThan(2.2);
    // A chunk after a cached prefix costs its own tokens plus attention over the prefix.
    const chunk = model.stepTimeMs([{ numTokens: 1024, contextLen: 2048 }]);
    expect(chunk).toBeLessThan(t2k);
    expect(chunk).toBeGreaterThan(model.stepTimeMs([{ numTokens: 1024, contextLen: 1024 }]));
    expect(model.stepTimeMs([])).toBe(0);
  });

  it('scales with the profile: the same step is slower on a card with less bandwidth or compute', () => {
    const h200 = new StepTimeModel(llama8b, SIM_PROFILES.h200);
    const slow = new StepTimeModel(llama8b, simProfile('h200', { bandwidthGBps: 2400, tflops: 494.5 }));
    expect(decodeStepMs(slow, 1, 528)).toBeGreaterThan(1.8 * decodeStepMs(h200, 1, 528));
    expect(prefillTokensPerS(slow, 2048)).toBeLessThan(0.55 * prefillTokensPerS(h200, 2048));
  });

  it('prints every card’s decode step at batch 1 / 64 / 256 (context 528) and 2K prefill', () => {
    const rows = SIM_PROFILE_NAMES.map((name) => {
      const model = new StepTimeModel(llama8b, SIM_PROFILES[name]);
      const cells = [1, 64, 256].map((b) => decodeStepMs(model, b, 528));
      const prefillMs = model.stepTimeMs([{ numTokens: 2048, contextLen: 2048 }]);
      return { name, cells, prefillMs };
    });
    console.log(
      [
        'Llama-3.1-8B shape     decode step ms: b=1    b=64   b=256   (tok/s at 256)   2K prefill ms (tok/s)',
        ...rows.map(
          (r) =>
            `${r.name.padEnd(22)} ${r.cells.map((c) => c.toFixed(2).padStart(7)).join(' ')}   ${((256 / r.cells[2]!) * 1e3).toFixed(0).padStart(8)}        ${r.prefillMs.toFixed(1).padStart(7)} (${((2048 / r.prefillMs) * 1e3).toFixed(0)})`,
        ),
      ].join('\n'),
    );
    // The cards keep their order: H200 > H100 > 5090 > 4090 on every figure.
    for (let i = 0; i < 3; i++) {
      const [h200, h100, rtx5090, rtx4090] = ['h200', 'h100', 'rtx5090', 'rtx4090'].map((n) => rows.find((r) => r.name === n)!);
      expect(h200!.cells[i]).toBeLessThan(h100!.cells[i]!);
      expect(h100!.cells[i]).toBeLessThan(rtx5090!.cells[i]!);
      expect(rtx5090!.cells[i]).toBeLessThan(rtx4090!.cells[i]!);
    }
  });
});
