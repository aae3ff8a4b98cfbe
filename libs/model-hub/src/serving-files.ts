import fs from 'node:fs';
import path from 'node:path';

/**
 * The small files serving reads, each fetched when the repository has it: the model's
 * architecture and generation defaults, the tokenizer, and the chat template (inside
 * tokenizer_config.json, or on its own in newer repositories).
 */
export const SERVING_METADATA_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
] as const;

/** Sharded weights: its weight_map names the shard files (tensor name -> file). */
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** Weight formats the engine does not load (PyTorch pickles run code when loaded; GGUF is another stack's). */
const OTHER_WEIGHTS = /\.(bin|pt|pth|ckpt|gguf|h5|msgpack|onnx)$/;

/** What to download from a repository, chosen from its file list. */
export interface ServingFilePlan {
  /** The SERVING_METADATA_FILES the repository has. */
  readonly metadataFiles: readonly string[];
  /** model.safetensors.index.json when present; then the weights are the shards it lists (see shardsOfIndex). */
  readonly indexFile: string | undefined;
  /** Top-level *.safetensors: the weights when there is no index. */
  readonly safetensorsFiles: readonly string[];
  /** Weights in formats the engine cannot load, named in the error for a repository without safetensors. */
  readonly otherWeightFiles: readonly string[];
}

/**
 * Only what serving needs, never the whole repository: many repositories also carry the same
 * weights as PyTorch .bin, as GGUF, or as an `original/` consolidated checkpoint, which would
 * double or triple the download. The weights are the shards the index lists when there is an
 * index (a repository may also hold a `consolidated.safetensors` the index does not use), else
 * every top-level *.safetensors.
 */
export function planServingFiles(repoFiles: readonly string[]): ServingFilePlan {
  const present = new Set(repoFiles);
  return {
    metadataFiles: SERVING_METADATA_FILES.filter((f) => present.has(f)),
    indexFile: present.has(SAFETENSORS_INDEX_FILE) ? SAFETENSORS_INDEX_FILE : undefined,
    safetensorsFiles: repoFiles.filter((f) => !f.includes('/') && f.endsWith('.safetensors')).sort(),
    otherWeightFiles: repoFiles.filter((f) => OTHER_WEIGHTS.test(f)).sort(),
  };
}

/** The distinct shard files of a safetensors index, in name order; throws on a malformed index. */
export function shardsOfIndex(indexJson: string): string[] {
  let weightMap: unknown;
  try {
    weightMap = (JSON.parse(indexJson) as { weight_map?: unknown }).weight_map;
  } catch (err) {
    throw new Error(`${SAFETENSORS_INDEX_FILE} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new Error(`${SAFETENSORS_INDEX_FILE} has no weight_map object`);
  }
  const shards = new Set<string>();
  for (const file of Object.values(weightMap)) {
    if (typeof file !== 'string' || !file.endsWith('.safetensors') || path.posix.isAbsolute(file) || file.split('/').includes('..')) {
      throw new Error(`${SAFETENSORS_INDEX_FILE} names an unusable shard: ${JSON.stringify(file)}`);
    }
    shards.add(file);
  }
  if (shards.size === 0) throw new Error(`${SAFETENSORS_INDEX_FILE} lists no shards`);
  return [...shards].sort();
}

/**
 * What a model directory lacks for serving: config.json and the weights (every shard of the
 * index, else at least one *.safetensors). Empty when it is complete. Used to tell a complete
 * cached snapshot (served without touching the network) from one a download was cut short in
 * or that holds only some files (`huggingface-cli download org/name config.json`).
 */
export function missingServingFiles(directory: string): string[] {
  const missing: string[] = [];
  const has = (file: string) => fs.existsSync(path.join(directory, file)); // follows the snapshot's symlinks
  if (!has('config.json')) missing.push('config.json');
  if (has(SAFETENSORS_INDEX_FILE)) {
    try {
      missing.push(...shardsOfIndex(fs.readFileSync(path.join(directory, SAFETENSORS_INDEX_FILE), 'utf8')).filter((f) => !has(f)));
    } catch {
      missing.push(SAFETENSORS_INDEX_FILE);
    }
  } else if (!safeReaddir(directory).some((f) => f.endsWith('.safetensors') && has(f))) {
    missing.push('*.safetensors');
  }
  return missing;
}

function safeReaddir(directory: string): string[] {
  try {
    return fs.readdirSync(directory);
  } catch {
    return [];
  }
}
