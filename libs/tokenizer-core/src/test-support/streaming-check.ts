import type { Tokenizer } from '@huggingface/tokenizers';
import type { ModelTokenizer } from '../model-tokenizer.js';
import { hasLoneSurrogate } from './stream-assertions.js';

/**
 * Streams `ids` one token at a time and checks, at every token boundary, that the text emitted
 * so far is the reference library's decode of that prefix, minus the one U+FFFD that stands for
 * a character still incomplete; that no delta has U+FFFD or half a surrogate pair; and that all
 * deltas together equal the full decode.
 */
export function expectStreamingMatchesReference(tokenizer: ModelTokenizer, reference: Tokenizer, ids: readonly number[]): void {
  const detokenizer = tokenizer.createDetokenizer();
  let emitted = '';
  for (let n = 1; n <= ids.length; n++) {
    const delta = detokenizer.push([ids[n - 1]!]);
    expect(delta).not.toContain('\uFFFD');
    expect(hasLoneSurrogate(delta)).toBe(false);
    emitted += delta;
    const prefix = reference.decode(ids.slice(0, n) as number[], { skip_special_tokens: true, clean_up_tokenization_spaces: false });
    if (prefix !== emitted) expect(prefix).toBe(`${emitted}\uFFFD`);
  }
  emitted += detokenizer.finish();
  expect(emitted).toBe(tokenizer.decode(ids));
}
