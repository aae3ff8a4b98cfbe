import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LLAMA_31_8B_CONFIG, LLAMA_31_GENERATION_CONFIG, QWEN3_06B_CONFIG, QWEN3_GENERATION_CONFIG, writeModelDir } from '../test-support/model-dirs.js';
import { readModelShape } from './read-model-shape.js';

describe('readModelShape', () => {
  it('reads Llama-3.1-8B: GQA, head_dim from hidden / heads, untied, eos list from generation_config.json', () => {
    const shape = readModelShape(writeModelDir(LLAMA_31_8B_CONFIG, LLAMA_31_GENERATION_CONFIG));
    expect(shape).toEqual({
      architecture: 'LlamaForCausalLM',
      numLayers: 32,
      hiddenSize: 4096,
      intermediateSize: 14336,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 128,
      vocabSize: 128256,
      maxPositionEmbeddings: 131072,
      tieWordEmbeddings: false,
      bosTokenId: 128000,
      eosTokenIds: [128001, 128008, 128009],
      numParams: 8_030_261_248, // the published parameter count of Llama-3.1-8B
    });
  });

  it('reads Qwen3-0.6B: explicit head_dim, q/k norms in the count, tied embeddings, eos list from generation_config.json', () => {
    const shape = readModelShape(writeModelDir(QWEN3_06B_CONFIG, QWEN3_GENERATION_CONFIG));
    expect(shape).toMatchObject({
      architecture: 'Qwen3ForCausalLM',
      numLayers: 28,
      hiddenSize: 1024,
      numHeads: 16,
      numKvHeads: 8,
      headDim: 128, // not 1024 / 16
      vocabSize: 151936,
      maxPositionEmbeddings: 40960, // sliding_window null and use_sliding_window false
      tieWordEmbeddings: true,
      bosTokenId: 151643,
      eosTokenIds: [151645, 151643], // config.json alone says 151645
      numParams: 596_049_920, // Qwen3-0.6B's published count (q_norm and k_norm of 128 per layer included)
    });
  });

  it('falls back to config.json without generation_config.json, and to model_type without architectures', () => {
    const { architectures: _, ...noArchitectures } = QWEN3_06B_CONFIG;
    const shape = readModelShape(writeModelDir(noArchitectures));
    expect(shape.architecture).toBe('Qwen3ForCausalLM');
    expect(shape.eosTokenIds).toEqual([151645]);
  });

  it('applies the engine defaults and caps the context at an active sliding window', () => {
    const mistral = readModelShape(
      writeModelDir({ architectures: ['MistralForCausalLM'], hidden_size: 512, intermediate_size: 1024, num_hidden_layers: 2, num_attention_heads: 8, vocab_size: 1000, max_position_embeddings: 32768, sliding_window: 4096 }),
    );
    expect(mistral).toMatchObject({ numKvHeads: 8, headDim: 64, maxPositionEmbeddings: 4096, bosTokenId: -1, eosTokenIds: [], tieWordEmbeddings: false });
    const qwen2 = readModelShape(
      writeModelDir({ architectures: ['Qwen2ForCausalLM'], hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 100, sliding_window: 16, use_sliding_window: false }),
    );
    expect(qwen2.maxPositionEmbeddings).toBe(2048);
    // Qwen2 always has q/k/v biases: 64 + 2 × 32 more parameters than the same Llama.
    const llama = readModelShape(
      writeModelDir({ architectures: ['LlamaForCausalLM'], hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 100 }),
    );
    expect(qwen2.numParams - llama.numParams).toBe(64 + 2 * 32);
  });

  it('names the file and the key of every problem', () => {
    const missing = path.join(os.tmpdir(), 'sim-device-no-such-model');
    expect(() => readModelShape(missing)).toThrow(`missing file ${path.join(missing, 'config.json')}`);
    const { hidden_size: _, ...noHidden } = LLAMA_31_8B_CONFIG;
    let dir = writeModelDir(noHidden);
    expect(() => readModelShape(dir)).toThrow(`${dir}/config.json: field "hidden_size" is missing`);
    dir = writeModelDir({ ...LLAMA_31_8B_CONFIG, num_hidden_layers: '32' });
    expect(() => readModelShape(dir)).toThrow(`${dir}/config.json: field "num_hidden_layers" must be an integer, got string`);
    dir = writeModelDir({ ...LLAMA_31_8B_CONFIG, num_key_value_heads: 5 });
    expect(() => readModelShape(dir)).toThrow('field "num_key_value_heads" (5) must divide num_attention_heads (32)');
    dir = writeModelDir({ ...LLAMA_31_8B_CONFIG, architectures: ['GPT2LMHeadModel'] });
    expect(() => readModelShape(dir)).toThrow(`${dir}/config.json: unsupported architecture "GPT2LMHeadModel"`);
    dir = writeModelDir(LLAMA_31_8B_CONFIG, { eos_token_id: [128001, 999999] });
    expect(() => readModelShape(dir)).toThrow('field "eos_token_id" 999999 is outside the vocabulary (128256)');
    dir = writeModelDir(LLAMA_31_8B_CONFIG, { eos_token_id: 1.5 });
    expect(() => readModelShape(dir)).toThrow(`${dir}/generation_config.json: field "eos_token_id" must be an integer, got number 1.5`);
    dir = writeModelDir(LLAMA_31_8B_CONFIG);
    fs.writeFileSync(path.join(dir, 'generation_config.json'), '{ not json');
    expect(() => readModelShape(dir)).toThrow(`invalid ${dir}/generation_config.json`);
  });
});
