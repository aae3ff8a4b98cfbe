/**
 * What the simulated device (a measuring instrument) knows of a model: the sizes in its
 * config.json, read the way native/src/core/model_config.cc reads them, and nothing of its
 * weights.
 */
export interface ModelShape {
  /** The first of config.json's `architectures`, e.g. 'LlamaForCausalLM'. */
  architecture: string;
  numLayers: number;
  hiddenSize: number;
  intermediateSize: number;
  numHeads: number;
  numKvHeads: number;
  /** config.json's head_dim, else hiddenSize / numHeads (Qwen3's differs from that). */
  headDim: number;
  vocabSize: number;
  /** The context length (capped by an active sliding window, as the engine does). */
  maxPositionEmbeddings: number;
  /** lm_head shares the embedding matrix. */
  tieWordEmbeddings: boolean;
  /** -1 when the model has none. */
  bosTokenId: number;
  /** generation_config.json's list when it has one, else config.json's. */
  eosTokenIds: number[];
  /** Every parameter: embeddings, lm_head unless tied, attention (+ biases, q/k norms), MLP, norms. */
  numParams: number;
}

/** The parameters a transformer of this shape holds, per part (the counts the cost model uses). */
export interface ParameterCounts {
  /** vocab × hidden: the input embedding table (a row gather per token, not a matmul). */
  readonly embedding: number;
  /** vocab × hidden when untied, 0 when tied (the embedding is the lm_head then). */
  readonly lmHead: number;
  /** Attention and MLP matrices, biases and norms of all layers, plus the final norm. */
  readonly layers: number;
  readonly total: number;
}

/** Whether the family's attention has q/k/v biases (Qwen2 always) and q/k norms (Qwen3). */
export interface AttentionExtras {
  readonly qkvBias: boolean;
  readonly qkNorm: boolean;
}

export function parameterCounts(
  shape: Pick<ModelShape, 'numLayers' | 'hiddenSize' | 'intermediateSize' | 'numHeads' | 'numKvHeads' | 'headDim' | 'vocabSize' | 'tieWordEmbeddings'>,
  extras: AttentionExtras = { qkvBias: false, qkNorm: false },
): ParameterCounts {
  const d = shape.hiddenSize;
  const qDim = shape.numHeads * shape.headDim;
  const kvDim = shape.numKvHeads * shape.headDim;
  const attention = d * (qDim + 2 * kvDim) + qDim * d + (extras.qkvBias ? qDim + 2 * kvDim : 0) + (extras.qkNorm ? 2 * shape.headDim : 0);
  const mlp = 3 * d * shape.intermediateSize;
  const norms = 2 * d;
  const layers = shape.numLayers * (attention + mlp + norms) + d;
  const embedding = shape.vocabSize * d;
  const lmHead = shape.tieWordEmbeddings ? 0 : embedding;
  return { embedding, lmHead, layers, total: embedding + lmHead + layers };
}

/**
 * Parameters every computed token is multiplied with: all but the input embedding, which is a
 * row gather (when tied, the same matrix is the lm_head and counts). Also the weights a step
 * streams from memory (× bytes per element).
 */
export function matmulParams(shape: Pick<ModelShape, 'numParams' | 'vocabSize' | 'hiddenSize' | 'tieWordEmbeddings'>): number {
  return shape.numParams - (shape.tieWordEmbeddings ? 0 : shape.vocabSize * shape.hiddenSize);
}
