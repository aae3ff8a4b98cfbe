import { EngineError, EngineSettingError, toEngineError } from './engine.errors.js';
import { loadEngine } from './engine.js';
import { STORIES_260K_DIR } from './test-support/fixture-paths.js';

describe('toEngineError', () => {
  it('recognises a refused di_engine_config field by the C API convention and names it', () => {
    const error = toEngineError(new Error('config.kv_cache_dtype: "float16" is not supported by the cpu backend'));
    expect(error).toBeInstanceOf(EngineSettingError);
    expect((error as EngineSettingError).field).toBe('kv_cache_dtype');
    expect(toEngineError(new Error('config.gpu_memory_utilization must be in (0, 1]'))).toMatchObject({ field: 'gpu_memory_utilization' });
  });

  it('leaves other engine errors plain', () => {
    const error = toEngineError(new Error('step: seqs[0].token_ids[1] = 900 is outside the vocabulary [0, 512)'));
    expect(error).toBeInstanceOf(EngineError);
    expect(error).not.toBeInstanceOf(EngineSettingError);
  });

  it('is what loadEngine rejects with when the real engine refuses a setting', async () => {
    await expect(loadEngine({ model: STORIES_260K_DIR, numKvBlocks: 8, kvCacheDtype: 'bfloat16' })).rejects.toMatchObject({
      name: 'EngineSettingError',
      field: 'kv_cache_dtype',
    });
    await expect(loadEngine({ model: STORIES_260K_DIR, numKvBlocks: 8, cudaDecodeAttn: 'flash' })).rejects.toMatchObject({ field: 'cuda_decode_attn' });
  });

  it('loads with a served dtype other than the checkpoint and reports both', async () => {
    const engine = await loadEngine({ model: STORIES_260K_DIR, numKvBlocks: 8, dtype: 'float16' });
    try {
      expect(engine.info).toMatchObject({ weightDtype: 'F32', dtype: 'float16', kvCacheDtype: 'float32' });
    } finally {
      engine.close();
    }
  });
});
