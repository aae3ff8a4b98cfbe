import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadEngine, type Engine } from '@deepinfer/engine';
import type { EngineSequence, RowMask, StepMasks } from '@deepinfer/executor-core';
import { NativeStepEngine } from './native-step-engine.js';

// The real engine on the bundled stories260k model (greedy from BOS is 403).
const STORIES_260K_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../models/stories260k');
const V = 512;

const maskOf = (ids: number[]) => {
  const words = new Uint32Array(V / 32);
  for (const id of ids) words[id >>> 5]! |= 1 << (id & 31);
  return words;
};

const sequence = (block: number, guided: boolean, tokenId = 1): EngineSequence => ({
  tokenIds: Int32Array.of(tokenId),
  startPos: 0,
  blockTable: Int32Array.of(block),
  sample: true,
  guided,
  sampling: { temperature: 0, topK: 0, topP: 1, minP: 0, presencePenalty: 0, frequencyPenalty: 0, repetitionPenalty: 1, logitBiasIds: new Int32Array(0), logitBiasValues: new Float32Array(0), numLogprobs: -1 },
  promptIds: Int32Array.of(tokenId),
  outputIds: new Int32Array(0),
});

/** StepMasks delivered when the test says so. */
function laterMasks(): StepMasks & { deliver(rows: readonly RowMask[]): void; fail(): void } {
  let deliver!: (rows: readonly RowMask[]) => void;
  let fail!: () => void;
  const masks = new Promise<readonly RowMask[]>((resolve, reject) => {
    deliver = resolve;
    fail = () => reject(new Error('masks broke'));
  });
  return { masks, deliver, fail };
}

describe('NativeStepEngine: guided masks overlap the native forward pass', () => {
  let engine: Engine;
  let stepEngine: NativeStepEngine;

  beforeAll(async () => {
    engine = await loadEngine({ model: STORIES_260K_DIR, threads: 2, numKvBlocks: 16 });
    stepEngine = new NativeStepEngine(engine);
  });
  afterAll(() => engine.close());

  it('starts the native step before the masks exist, samples under them, and reports the engine-measured wait', async () => {
    const masks = laterMasks();
    const stepping = stepEngine.step([sequence(0, true), sequence(1, true), sequence(2, false)], masks);
    // The native step is already running: it waits for the masks on its worker thread.
    expect(engine.busy).toBe(true);
    expect(engine.awaitingMasks).toBe(true);
    await new Promise((r) => setTimeout(r, 30));
    masks.deliver([maskOf([10]), 'refuse', undefined]);
    const samples = await stepping;
    expect(samples.map((s) => s?.tokenId)).toEqual([10, undefined, 403]);
    expect(masks.waitedMs).toBeGreaterThan(0);
    expect(engine.awaitingMasks).toBe(false);
  });

  it('a guided sequence without masks (none given, or a rejected promise) samples nothing; the others do', async () => {
    expect((await stepEngine.step([sequence(0, true), sequence(2, false)])).map((s) => s?.tokenId)).toEqual([undefined, 403]);
    const masks = laterMasks();
    const stepping = stepEngine.step([sequence(0, true), sequence(2, false)], masks);
    masks.fail();
    expect((await stepping).map((s) => s?.tokenId)).toEqual([undefined, 403]);
  });

  it('a step that fails on its input is not left waiting, and the engine runs the next step', async () => {
    const masks = laterMasks();
    const stepping = stepEngine.step([sequence(0, true, 9999)], masks);
    masks.deliver([maskOf([10])]);
    await expect(stepping).rejects.toThrow('outside the vocabulary');
    expect(engine.busy).toBe(false);
    const next = laterMasks();
    next.deliver([maskOf([45])]);
    expect((await stepEngine.step([sequence(0, true)], next)).map((s) => s?.tokenId)).toEqual([45]);
  });
});
