import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** The bundled default model. */
export const STORIES_260K_DIR = path.join(repoRoot, 'models/stories260k');

/** A native test fixture: an FP8 (E4M3) checkpoint with per-channel scales, compressed-tensors layout. */
export const FP8_CHANNEL_FIXTURE_DIR = path.join(repoRoot, 'native/tests/fixtures/llama_fp8_channel');

/** The llama2.c golden: BOS then 200 greedy tokens. */
export function goldenIds(): number[] {
  return fs.readFileSync(path.join(STORIES_260K_DIR, 'expected_greedy_from_bos_200_tokens.ids'), 'utf8').trim().split(/\s+/).map(Number);
}
