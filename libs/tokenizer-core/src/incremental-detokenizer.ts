import type { TokenPieces } from './token-pieces.compiler.js';
import { Utf8StreamDecoder } from './utf8-stream-decoder.js';

export interface DetokenizeOptions {
  /** Drop special tokens (bos, eos, `<|eot_id|>`, …) from the text. Default true, as in vLLM. */
  skipSpecialTokens?: boolean;
  /**
   * Put a space between added tokens and the text around them, as transformers' *slow*
   * tokenizers do. Default false: vLLM's default is true, but with a tokenizer.json (fast)
   * tokenizer vLLM ignores it, so false is what vLLM actually outputs. Only matters when an
   * added token is not skipped (special tokens kept, or non-special added ones like Qwen's
   * `<think>`).
   */
  spacesBetweenSpecialTokens?: boolean;
}

export interface IncrementalDetokenizerOptions extends DetokenizeOptions {
  /**
   * The prompt's ids, when the output continues a prompt. They are decoded into the state (not
   * emitted) once, so that the leading-space rule knows text already exists (the output's first
   * word keeps its space) and a character split between prompt and output is completed.
   */
  promptTokenIds?: readonly number[];
}

/**
 * Turns a stream of token ids into text deltas for one sequence.
 *
 * Every delta is well-formed text: bytes of a character split over several tokens (byte
 * fallback `<0xE6><0x97><0xA5>`, or byte-level BPE pieces of Llama 3 / Qwen) are held in the
 * UTF-8 decoder until the character completes, so no U+FFFD or half surrogate pair is emitted
 * for valid text; genuinely invalid bytes become U+FFFD exactly where a full decode puts them.
 *
 * Unlike vLLM's prefix/read-offset window (which re-decodes a few tokens per step because its
 * decoder is opaque), the decoder here is compiled to per-token bytes (see
 * compileTokenPieces), so the state is O(1): at most 3 pending bytes and two flags. Each call
 * costs O(new tokens), and the concatenation of all deltas plus `finish()` equals decoding the
 * whole sequence at once with the same options, however the ids are split between calls.
 */
export class IncrementalDetokenizer {
  private readonly utf8 = new Utf8StreamDecoder();
  private readonly skipSpecialTokens: boolean;
  private readonly spaced: boolean;
  /** leading `char`s still removable; 0 once text has started */
  private stripBudget: number;
  /** spaced mode: something was output, so the next added token is preceded by a space */
  private emittedAny = false;
  /** spaced mode: the last unit was an added token, so the next text segment starts with a space */
  private separatorPending = false;
  private numTokensSeen = 0;
  private finished = false;

  constructor(
    private readonly pieces: TokenPieces,
    options: IncrementalDetokenizerOptions = {},
  ) {
    this.skipSpecialTokens = options.skipSpecialTokens ?? true;
    this.spaced = options.spacesBetweenSpecialTokens ?? false;
    this.stripBudget = pieces.leadingStrip?.maxChars ?? 0;
    // Priming is O(prompt) once per request; each later step stays O(new tokens).
    for (const id of options.promptTokenIds ?? []) this.step(id);
  }

  /** Output tokens consumed so far (prompt ids not counted). */
  get numTokens(): number {
    return this.numTokensSeen;
  }

  /** Consumes new ids and returns the text they complete (possibly ''). */
  push(tokenIds: readonly number[]): string {
    if (this.finished) throw new Error('IncrementalDetokenizer.push after finish');
    let out = '';
    for (let i = 0; i < tokenIds.length; i++) out += this.step(tokenIds[i]!);
    this.numTokensSeen += tokenIds.length;
    return out;
  }

  /** Consumes one id; the same as `push([tokenId])` without the array. */
  pushOne(tokenId: number): string {
    if (this.finished) throw new Error('IncrementalDetokenizer.push after finish');
    this.numTokensSeen++;
    return this.step(tokenId);
  }

  /** Ends the sequence: bytes of an unfinished character come out as one U+FFFD, as in a full decode. */
  finish(): string {
    if (this.finished) return '';
    this.finished = true;
    return this.text(this.utf8.flush());
  }

  private step(id: number): string {
    const pieces = this.pieces;
    // Ids without a token (padding rows of the embedding) decode to nothing, as in HF's decode.
    if (!(id >= 0 && id < pieces.vocabSize) || pieces.hasToken[id] === 0) return '';
    if (pieces.isSpecial[id] === 1 && this.skipSpecialTokens) return '';
    if (this.spaced && pieces.isAdded[id] === 1) return this.addedToken(id);
    const whole = pieces.text[id];
    // Fast path: no character is pending and the token is complete UTF-8 on its own.
    const decoded =
      whole !== null && !this.utf8.hasPendingBytes ? whole : this.utf8.decode(pieces.bytes, pieces.offsets[id], pieces.offsets[id + 1]);
    if (this.pieces.leadingStrip?.firstTokenOnly === true && this.stripBudget > 0) {
      // Metaspace strips the first token's leading space only, whether or not it has text yet.
      const out = this.text(decoded);
      this.stripBudget = 0;
      return out;
    }
    return this.text(decoded);
  }

  /** Spaced mode: an added token is its own unit, like a sub-text of transformers' slow decode. */
  private addedToken(id: number): string {
    // The text segment before it ends here; decoded alone, a dangling partial character is U+FFFD.
    let out = this.text(this.utf8.flush());
    const { bytes, offsets, text } = this.pieces;
    const content = this.strip(text[id] ?? new TextDecoder().decode(bytes.subarray(offsets[id], offsets[id + 1])));
    out += (this.emittedAny ? ' ' : '') + content;
    this.emittedAny = true;
    this.separatorPending = true;
    return out;
  }

  /** Applies the leading-space rule and, in spaced mode, the separator before a new segment. */
  private text(decoded: string): string {
    const out = this.strip(decoded);
    if (!this.spaced || out.length === 0) return out;
    this.emittedAny = true;
    if (!this.separatorPending) return out;
    this.separatorPending = false;
    return ' ' + out;
  }

  private strip(decoded: string): string {
    if (this.stripBudget === 0 || decoded.length === 0) return decoded;
    const rule = this.pieces.leadingStrip!;
    let cut = 0;
    while (cut < decoded.length && cut < this.stripBudget && decoded[cut] === rule.char) cut++;
    // Once a character survives, the text has started and nothing more is stripped.
    this.stripBudget = cut < decoded.length ? 0 : this.stripBudget - cut;
    return cut === 0 ? decoded : decoded.slice(cut);
  }
}
