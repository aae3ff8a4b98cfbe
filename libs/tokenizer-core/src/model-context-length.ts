import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TokenizerLoadError } from './tokenizer.errors.js';

/** The model's own context length and the config.json key it came from. */
export interface ModelContextLength {
  readonly maxModelLen: number;
  /** e.g. `max_position_embeddings`, or `max_position_embeddings × rope_scaling.factor` */
  readonly derivedFrom: string;
}

/**
 * config.json keys that bound the context, as vLLM reads them (`_get_and_verify_max_len`): the
 * smallest one present wins. tokenizer_config's `model_max_length` is deliberately absent:
 * tokenizers copied between models often carry a stale or placeholder value.
 */
const LENGTH_KEYS = ['max_position_embeddings', 'n_positions', 'max_seq_len', 'seq_length', 'max_sequence_length', 'max_seq_length', 'seq_len'] as const;

/** rope types whose max_position_embeddings already is the extended length (or that do not extend it). */
const ROPE_TYPES_WITHOUT_FACTOR = new Set(['default', 'su', 'longrope', 'llama3', 'dynamic', 'mrope']);

type ConfigJson = Record<string, unknown> & { text_config?: Record<string, unknown>; rope_scaling?: Record<string, unknown> | null };

/**
 * Reads the model's context length from `<directory>/config.json`. Returns null when there is no
 * config.json (a tokenizer-only directory) or it names no length; throws TokenizerLoadError when
 * the file is unreadable or not JSON. Multimodal configs keep the language model's in `text_config`.
 */
export async function readModelContextLength(directory: string): Promise<ModelContextLength | null> {
  const file = path.join(directory, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TokenizerLoadError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let config: ConfigJson;
  try {
    config = JSON.parse(text) as ConfigJson;
  } catch (error) {
    throw new TokenizerLoadError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  return contextLengthOf(config) ?? (config.text_config ? contextLengthOf(config.text_config as ConfigJson) : null);
}

/** The context length a parsed config.json declares (see readModelContextLength). */
export function contextLengthOf(config: ConfigJson): ModelContextLength | null {
  let best: { key: string; value: number } | undefined;
  for (const key of LENGTH_KEYS) {
    const value = config[key];
    if (typeof value === 'number' && Number.isFinite(value) && value > 0 && (best === undefined || value < best.value)) best = { key, value };
  }
  if (best === undefined) return null;
  const rope = config.rope_scaling;
  const ropeType = rope ? String(rope['rope_type'] ?? rope['type'] ?? 'default') : 'default';
  const factor = rope?.['factor'];
  if (rope && !ROPE_TYPES_WITHOUT_FACTOR.has(ropeType) && typeof factor === 'number' && factor > 0) {
    // yarn scales the original (pre-extension) length; linear scaling the declared one.
    const original = rope['original_max_position_embeddings'];
    const base = ropeType === 'yarn' && typeof original === 'number' ? original : best.value;
    return { maxModelLen: Math.floor(base * factor), derivedFrom: `${ropeType === 'yarn' && typeof original === 'number' ? 'rope_scaling.original_max_position_embeddings' : best.key} × rope_scaling.factor` };
  }
  return { maxModelLen: Math.floor(best.value), derivedFrom: best.key };
}
