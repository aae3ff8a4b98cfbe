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

  it('sizes fp8 KV blocks as the engine stores them: 1 byte per element plus an exponent per token and kv head', async () => {
    // stories260k: head_dim 8, so 9 bytes per (token, kv head) instead of 32.
    const fp8 = probeModel(STORIES_260K_DIR, 16, 'fp8');
    expect(fp8.kvBlockBytes).toBe(2 * 5 * 16 * 4 * (8 + 1));
    expect(cpuKvCacheBlocks({ model: STORIES_260K_DIR, blockSize: 16, cpuKvCacheSpaceGib: 1, kvCacheDtype: 'fp8' })).toBe(Math.floor(2 ** 30 / 5760));
    const engine = await loadEngine({ model: STORIES_260K_DIR, threads: 1, blockSize: 16, numKvBlocks: 2, kvCacheDtype: 'fp8' });
    try {
      expect(engine.info).toMatchObject({ kvCacheDtype: 'float8_e4m3', kvBlockBytes: fp8.kvBlockBytes });
    } finally {
      engine.close();
    }
    expect(() => probeModel(STORIES_260K_DIR, 16, 'int4')).toThrow('config.kv_cache_dtype: "int4" is not one of auto, float32, float16, bfloat16, fp8');
  });

  it('refuses a budget smaller than one block, saying what one block takes', () => {
    expect(() => kvBlocksForBudget(2 ** 31, 1)).toThrow('cpu_kv_cache_space_gib = 1 holds no KV block: one block of this model takes 2147483648 bytes');
  });

  it('a bad model path fails with the loader’s message', () => {
    expect(() => probeModel('/nonexistent/model')).toThrow('model directory /nonexistent/model does not exist');
  });
});
