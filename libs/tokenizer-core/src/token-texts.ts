import type { TokenPieces } from './token-pieces.compiler.js';

const lossy = new TextDecoder('utf-8', { fatal: false });

/**
 * The text of single tokens, as OpenAI shows them in logprobs: the token's own bytes decoded
 * alone, so a piece of a multi-byte character shows as U+FFFD, special tokens show as
 * themselves (`</s>`) and no leading-space rule applies (`▁Once` is ` Once`). Out-of-range ids
 * show as ''. Cached: logprobs ask for the same alternatives over and over.
 */
export class TokenTexts {
  private readonly cache = new Map<number, string>();

  constructor(private readonly pieces: TokenPieces) {}

  textOf(tokenId: number): string {
    const known = this.pieces.text[tokenId];
    if (known !== undefined && known !== null) return known;
    let text = this.cache.get(tokenId);
    if (text === undefined) {
      const { bytes, offsets, vocabSize } = this.pieces;
      text = Number.isInteger(tokenId) && tokenId >= 0 && tokenId < vocabSize ? lossy.decode(bytes.subarray(offsets[tokenId], offsets[tokenId + 1])) : '';
      this.cache.set(tokenId, text);
    }
    return text;
  }
}
