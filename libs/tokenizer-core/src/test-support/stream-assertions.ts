import type { IncrementalDetokenizer } from '../incremental-detokenizer.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `text` has a half of a surrogate pair (what a split astral character looks like). */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

/** Feeds ids one at a time and returns every delta, the last one being `finish()`. */
export function streamOneByOne(detokenizer: IncrementalDetokenizer, ids: readonly number[]): string[] {
  const deltas = ids.map((id) => detokenizer.push([id]));
  deltas.push(detokenizer.finish());
  return deltas;
}

/** Feeds ids in chunks of varying sizes (1, 2, 3, 1, 2, 3, …). */
export function streamInChunks(detokenizer: IncrementalDetokenizer, ids: readonly number[]): string[] {
  const deltas: string[] = [];
  for (let start = 0, size = 1; start < ids.length; start += size, size = (size % 3) + 1) {
    deltas.push(detokenizer.push(ids.slice(start, start + size)));
  }
  deltas.push(detokenizer.finish());
  return deltas;
}
