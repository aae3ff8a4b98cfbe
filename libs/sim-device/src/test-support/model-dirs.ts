import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HF_MODEL_FAMILIES, LLAMA_31_8B_DIMS } from '@deepinfer/testing';

// The families' config.json / generation_config.json as published on the Hub come from
// @deepinfer/testing (one definition, also used by the random-weight models of the e2e tests).

/** meta-llama/Llama-3.1-8B-Instruct's config.json. */
export const LLAMA_31_8B_CONFIG = HF_MODEL_FAMILIES.llama.config(LLAMA_31_8B_DIMS, 128256);
export const LLAMA_31_GENERATION_CONFIG = HF_MODEL_FAMILIES.llama.generationConfig();

/** Qwen/Qwen3-0.6B's config.json (q/k norms, head_dim ≠ hidden / heads, tied embeddings). */
export const QWEN3_06B_CONFIG = HF_MODEL_FAMILIES.qwen3.config({ hiddenSize: 1024, numLayers: 28, numHeads: 16, numKvHeads: 8, headDim: 128, intermediateSize: 3072 }, 151936);
export const QWEN3_GENERATION_CONFIG = HF_MODEL_FAMILIES.qwen3.generationConfig();

/** A fresh temp directory with config.json and, when given, generation_config.json. */
export function writeModelDir(config: Record<string, unknown>, generationConfig?: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-device-model-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  if (generationConfig) fs.writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify(generationConfig));
  return dir;
}

/** A small Llama (vocab 1000, BOS 1, EOS 2) for token tests: its shape only matters for timing. */
export const SMALL_LLAMA_CONFIG = {
  ...LLAMA_31_8B_CONFIG,
  hidden_size: 256,
  intermediate_size: 512,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 64,
  vocab_size: 1000,
  max_position_embeddings: 4096,
  bos_token_id: 1,
  eos_token_id: 2,
};
