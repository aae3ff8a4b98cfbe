import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './stack.js';

const dir = path.join(REPO_ROOT, 'models', 'stories260k');

/** The bundled model's published greedy continuation of `<s>`: 200 ids and their text. */
export const GOLDEN_TEXT = fs.readFileSync(path.join(dir, 'expected_greedy_from_bos_200_tokens.txt'), 'utf8');
export const GOLDEN_IDS = fs.readFileSync(path.join(dir, 'expected_greedy_from_bos_200_tokens.ids'), 'utf8').trim().split(/\s+/).map(Number);
export const MODEL_NAME = 'stories260k';

/** Adds vLLM's extension parameters (ignore_eos, min_tokens, …) that the openai types lack. */
export function withVllmParams<T extends object>(params: T, extra: Record<string, unknown>): T {
  return { ...params, ...extra };
}
