import { loadEngine } from './engine.js';
import { cpuKvCacheBlocks, kvBlocksForBudget, probeModel } from './kv-cache-blocks.js';
import { STORIES_260K_DIR } from './test-support/fixture-paths.js';

describe('KV-cache sizing', () => {
  it('probes the model from config.json with the bytes the engine then allocates per block', async () => {
    const probe = probeModel(STORIES_260K_DIR, 32);
    expect(probe).toMatchObject({ numLayers: 5, numKvHeads: 4, headDim: 8, vocabSize: 512, maxPositionEmbeddings: 512, blockSize: 32 });
    const engine = await loadEngine({ model: STORIES_260K_DIR, threads: 1, blockSize: 32, numKvBlocks: 2 });
    try {
      expect(probe.kvBlockBytes).toBe(engine.info.kvBlockBytes);
    } finally {
      engine.close();
    }
  });

  it('turns cpu_kv_cache_space_gib into a block count', () => {
    expect(cpuKvCacheBlocks({ model: STORIES_260K_DIR, blockSize: 16, cpuKvCacheSpaceGib: 1 })).toBe(Math.floor(2 ** 30 / 20480));
    expect(kvBlocksForBudget(1024, 0.5)).toBe(2 ** 19);
    expect(kvBlocksForBudget(2 ** 40, 4096)).toBe(4);
    expect(kvBlocksForBudget(1, 4096)).toBe(2 ** 31 - 1);
  });

  it('refuses a budget smaller than one block, saying what one block takes', () => {
    expect(() => kvBlocksForBudget(2 ** 31, 1)).toThrow('cpu_kv_cache_space_gib = 1 holds no KV block: one block of this model takes 2147483648 bytes');
  });

  it('a bad model path fails with the loader’s message', () => {
    expect(() => probeModel('/nonexistent/model')).toThrow('model directory /nonexistent/model does not exist');
  });
});
