import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { contextLengthOf, readModelContextLength } from './model-context-length.js';
import { STORIES_260K_DIR } from './test-support/fixture-paths.js';
import { TokenizerLoadError } from './tokenizer.errors.js';

describe('readModelContextLength', () => {
  it('reads max_position_embeddings of the bundled model', async () => {
    expect(await readModelContextLength(STORIES_260K_DIR)).toEqual({ maxModelLen: 512, derivedFrom: 'max_position_embeddings' });
  });

  it('returns null without config.json and refuses a broken one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'context-length-'));
    try {
      expect(await readModelContextLength(dir)).toBeNull();
      await writeFile(path.join(dir, 'config.json'), '{nope');
      await expect(readModelContextLength(dir)).rejects.toBeInstanceOf(TokenizerLoadError);
      await writeFile(path.join(dir, 'config.json'), JSON.stringify({ text_config: { max_position_embeddings: 8192 } }));
      expect(await readModelContextLength(dir)).toEqual({ maxModelLen: 8192, derivedFrom: 'max_position_embeddings' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes the smallest length key and applies rope scaling as vLLM does', () => {
    expect(contextLengthOf({ max_position_embeddings: 4096, seq_length: 2048 })?.maxModelLen).toBe(2048);
    // Llama 3.1: the declared length already includes the llama3 extension.
    expect(contextLengthOf({ max_position_embeddings: 131072, rope_scaling: { rope_type: 'llama3', factor: 8 } })?.maxModelLen).toBe(131072);
    expect(contextLengthOf({ max_position_embeddings: 32768, rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 32768 } })?.maxModelLen).toBe(131072);
    expect(contextLengthOf({ max_position_embeddings: 2048, rope_scaling: { type: 'linear', factor: 2 } })?.maxModelLen).toBe(4096);
    expect(contextLengthOf({ hidden_size: 64 })).toBeNull();
  });
});
