import fs from 'node:fs';
import path from 'node:path';
import { parameterCounts, type AttentionExtras, type ModelShape } from './model-shape.js';

/** The families the native engine serves (native/src/core/model_config.cc), by architecture and by model_type. */
const FAMILIES: Readonly<Record<string, { modelType: string; extras: (fields: JsonFields) => AttentionExtras }>> = {
  LlamaForCausalLM: { modelType: 'llama', extras: (f) => ({ qkvBias: f.optBool('attention_bias', false), qkNorm: false }) },
  MistralForCausalLM: { modelType: 'mistral', extras: (f) => ({ qkvBias: f.optBool('attention_bias', false), qkNorm: false }) },
  // Qwen2's attention always has q/k/v biases; its config has no flag for them.
  Qwen2ForCausalLM: { modelType: 'qwen2', extras: () => ({ qkvBias: true, qkNorm: false }) },
  Qwen3ForCausalLM: { modelType: 'qwen3', extras: (f) => ({ qkvBias: f.optBool('attention_bias', false), qkNorm: true }) },
};

/**
 * The shape of the Hugging Face model in `directory`, for the simulated device (a measuring
 * instrument): config.json (+ generation_config.json when present), read with the native
 * engine's rules — the same families, defaults (num_key_value_heads = heads, head_dim =
 * hidden / heads, max_position_embeddings 2048, untied), sliding window capping the context,
 * generation_config's eos/bos ids replacing config.json's. No weights are read. Throws with the
 * file and the key on anything missing or malformed.
 */
export function readModelShape(directory: string): ModelShape {
  const configPath = path.join(directory, 'config.json');
  if (!fs.existsSync(configPath)) throw new Error(`missing file ${configPath} (the simulated device needs the model's config.json; no weights)`);
  const f = new JsonFields(readJsonObject(configPath), configPath);

  const architectures = f.get('architectures');
  let architecture = '';
  if (architectures !== undefined) {
    const first: unknown = Array.isArray(architectures) ? architectures[0] : undefined;
    if (typeof first !== 'string') return f.bad('architectures', 'must be a non-empty list of strings');
    architecture = first;
  }
  const modelType = f.optString('model_type');
  const familyName = architecture !== '' ? architecture : Object.keys(FAMILIES).find((a) => FAMILIES[a]!.modelType === modelType);
  const family = familyName === undefined ? undefined : FAMILIES[familyName];
  if (!family || familyName === undefined) {
    throw new Error(`${configPath}: unsupported architecture "${architecture || modelType}" (supported: ${Object.keys(FAMILIES).join(', ')})`);
  }

  const hiddenSize = f.reqInt('hidden_size', 1);
  const intermediateSize = f.reqInt('intermediate_size', 1);
  const numLayers = f.reqInt('num_hidden_layers', 1);
  const numHeads = f.reqInt('num_attention_heads', 1);
  const numKvHeads = f.optInt('num_key_value_heads', numHeads, 1);
  const vocabSize = f.reqInt('vocab_size', 1);
  let maxPositionEmbeddings = f.optInt('max_position_embeddings', 2048, 1);
  const tieWordEmbeddings = f.optBool('tie_word_embeddings', false);
  if (numHeads % numKvHeads !== 0) f.bad('num_key_value_heads', `(${numKvHeads}) must divide num_attention_heads (${numHeads})`);
  let headDim: number;
  if (f.get('head_dim') !== undefined) {
    headDim = f.reqInt('head_dim', 2);
  } else {
    if (hiddenSize % numHeads !== 0) f.bad('hidden_size', 'is not a multiple of num_attention_heads and head_dim is absent');
    headDim = hiddenSize / numHeads;
  }
  if (headDim % 2 !== 0) f.bad('head_dim', 'must be even for RoPE');
  // The engine attends over the whole context; an active sliding window caps the context instead.
  const usesSlidingWindow = familyName.startsWith('Qwen') ? f.optBool('use_sliding_window', false) : true;
  if (usesSlidingWindow) {
    const window = f.optInt('sliding_window', 0, 0);
    if (window > 0 && window < maxPositionEmbeddings) maxPositionEmbeddings = window;
  }

  const bos = f.optIdList('bos_token_id');
  let bosTokenId = bos.length === 0 ? -1 : bos[0]!;
  let eosTokenIds = f.optIdList('eos_token_id');
  const generationPath = path.join(directory, 'generation_config.json');
  if (fs.existsSync(generationPath)) {
    const g = new JsonFields(readJsonObject(generationPath), generationPath);
    const eos = g.optIdList('eos_token_id');
    if (eos.length > 0) eosTokenIds = eos;
    const gbos = g.optIdList('bos_token_id');
    if (gbos.length > 0) bosTokenId = gbos[0]!;
  }
  for (const id of eosTokenIds) if (id >= vocabSize) f.bad('eos_token_id', `${id} is outside the vocabulary (${vocabSize})`);
  if (bosTokenId >= vocabSize) f.bad('bos_token_id', `${bosTokenId} is outside the vocabulary (${vocabSize})`);

  const sizes = { numLayers, hiddenSize, intermediateSize, numHeads, numKvHeads, headDim, vocabSize, tieWordEmbeddings };
  return {
    architecture: familyName,
    ...sizes,
    maxPositionEmbeddings,
    bosTokenId,
    eosTokenIds,
    numParams: parameterCounts(sizes, family.extras(f)).total,
  };
}

function readJsonObject(file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`invalid ${file}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`invalid ${file}: the top level is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Typed reads of one JSON object; every error names the file and the key. null counts as absent (as in the engine). */
class JsonFields {
  constructor(
    private readonly json: Record<string, unknown>,
    private readonly file: string,
  ) {}

  get(key: string): unknown {
    const value = this.json[key];
    return value === null ? undefined : value;
  }

  bad(key: string, what: string): never {
    throw new Error(`${this.file}: field "${key}" ${what}`);
  }

  reqInt(key: string, min: number): number {
    const value = this.get(key);
    if (value === undefined) this.bad(key, 'is missing');
    return this.checkInt(key, value, min);
  }

  optInt(key: string, fallback: number, min: number): number {
    const value = this.get(key);
    return value === undefined ? fallback : this.checkInt(key, value, min);
  }

  optBool(key: string, fallback: boolean): boolean {
    const value = this.get(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') this.bad(key, `must be true or false, got ${typeOf(value)}`);
    return value;
  }

  optString(key: string): string {
    const value = this.get(key);
    if (value === undefined) return '';
    if (typeof value !== 'string') this.bad(key, `must be a string, got ${typeOf(value)}`);
    return value;
  }

  /** An id or a list of ids (eos_token_id may be either). */
  optIdList(key: string): number[] {
    const value = this.get(key);
    if (value === undefined) return [];
    return Array.isArray(value) ? value.map((v) => this.checkInt(key, v, 0)) : [this.checkInt(key, value, 0)];
  }

  private checkInt(key: string, value: unknown, min: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value)) this.bad(key, `must be an integer, got ${typeOf(value)}`);
    if (value < min) this.bad(key, `must be >= ${min}, got ${value}`);
    return value;
  }
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'number' && !Number.isInteger(value) ? `number ${value}` : typeof value;
}
