import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** meta-llama/Llama-3.1-8B-Instruct's config.json as published on the Hugging Face Hub. */
export const LLAMA_31_8B_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.0.dev0',
  use_cache: true,
  vocab_size: 128256,
};

export const LLAMA_31_GENERATION_CONFIG = { bos_token_id: 128000, do_sample: true, eos_token_id: [128001, 128008, 128009], temperature: 0.6, top_p: 0.9 };

/** Qwen/Qwen3-0.6B's config.json (q/k norms, head_dim ≠ hidden / heads, tied embeddings). */
export const QWEN3_06B_CONFIG = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 1024,
  initializer_range: 0.02,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  model_type: 'qwen3',
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.51.0',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

export const QWEN3_GENERATION_CONFIG = { bos_token_id: 151643, do_sample: true, eos_token_id: [151645, 151643], pad_token_id: 151643, temperature: 0.6, top_k: 20, top_p: 0.95 };

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
