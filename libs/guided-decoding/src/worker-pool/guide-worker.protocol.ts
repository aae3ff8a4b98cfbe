import type { GuidedDecoding } from '@deepinfer/contracts';

/**
 * Messages between the executor's main thread and a guide worker (GuideWorkerPool). Every
 * request carries an id its reply repeats; a worker answers requests in the order it got them.
 */

/** What a worker is started with (workerData): the vocabulary it builds its token tables from. */
export interface GuideWorkerData {
  /** The model's tokenizer.json. */
  tokenizerJsonPath: string;
  /** The engine's vocabulary size (mask width: ceil(vocabSize / 32) words). */
  vocabSize: number;
  /** The ids the grammar ends on (the model's EOS ids). */
  stopTokenIds: number[];
}

export type GuideWorkerRequest =
  /** Compile the grammar of a spec into the worker's cache (the token tables first, if not built yet); no matcher. */
  | { type: 'prepare'; id: number; spec: GuidedDecoding }
  /** Make a matcher for a request, advanced over its outputs so far. */
  | { type: 'make'; id: number; guideId: number; spec: GuidedDecoding; outputs: number[] }
  /**
   * Per row: accept the tokens sampled since the last mask, then write the next mask into
   * `buffer` at words [row × numWords, (row + 1) × numWords).
   */
  | { type: 'masks'; id: number; buffer: SharedArrayBuffer; rows: { guideId: number; accept: number[] }[] }
  /** Drop a matcher (no reply). */
  | { type: 'dispose'; guideId: number }
  /**
   * Drop the compiled grammar cached under `key` (guidedDecodingKey; no reply): the pool decides
   * what a worker keeps (its cache is unbounded), so that a grammar it promised stays.
   */
  | { type: 'forget'; key: string };

export type GuideWorkerReply =
  /** `refused`: xgrammar cannot compile the spec's grammar (a GrammarCompileError in the worker). */
  | { id: number; error: string; refused?: true }
  | { id: number; made: true }
  | { id: number; prepared: true }
  /** Per row: the time its accepts and mask took (ms), or why it has none. */
  | { id: number; rows: ({ ms: number } | { error: string })[] };
