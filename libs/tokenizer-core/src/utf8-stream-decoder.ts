/**
 * A streaming UTF-8 decoder that follows the WHATWG Encoding Standard's algorithm byte for byte,
 * so it produces exactly what `new TextDecoder('utf-8', { ignoreBOM: true })` produces for the same
 * bytes (one U+FFFD per maximal invalid subpart), but lets the caller see whether a character is
 * still incomplete (`hasPendingBytes`) and costs no native call per token.
 *
 * Invariant: between calls at most 3 bytes are pending, and only as the prefix of a character
 * that is still valid so far. Output is always well-formed UTF-16: astral characters are appended
 * as a whole surrogate pair, never half of one.
 */
export class Utf8StreamDecoder {
  private codePoint = 0;
  private bytesSeen = 0;
  private bytesNeeded = 0;
  private lowerBoundary = 0x80;
  private upperBoundary = 0xbf;
  /** U+FFFD written so far for invalid bytes (not counting ones that were in the input) */
  numInvalidSequences = 0;

  get hasPendingBytes(): boolean {
    return this.bytesNeeded !== 0;
  }

  /** Decodes `bytes[start..end)`, returning the characters completed by them. */
  decode(bytes: Uint8Array, start = 0, end = bytes.length): string {
    let out = '';
    for (let i = start; i < end; i++) {
      const byte = bytes[i]!;
      if (this.bytesNeeded === 0) {
        if (byte <= 0x7f) {
          out += String.fromCharCode(byte);
        } else if (byte >= 0xc2 && byte <= 0xdf) {
          this.bytesNeeded = 1;
          this.codePoint = byte & 0x1f;
        } else if (byte >= 0xe0 && byte <= 0xef) {
          if (byte === 0xe0) this.lowerBoundary = 0xa0;
          if (byte === 0xed) this.upperBoundary = 0x9f;
          this.bytesNeeded = 2;
          this.codePoint = byte & 0xf;
        } else if (byte >= 0xf0 && byte <= 0xf4) {
          if (byte === 0xf0) this.lowerBoundary = 0x90;
          if (byte === 0xf4) this.upperBoundary = 0x8f;
          this.bytesNeeded = 3;
          this.codePoint = byte & 0x7;
        } else {
          this.numInvalidSequences++;
          out += '\uFFFD';
        }
        continue;
      }
      if (byte < this.lowerBoundary || byte > this.upperBoundary) {
        // The pending prefix is invalid: one replacement for it, then the byte starts afresh.
        this.reset();
        this.numInvalidSequences++;
        out += '\uFFFD';
        i--;
        continue;
      }
      this.lowerBoundary = 0x80;
      this.upperBoundary = 0xbf;
      this.codePoint = (this.codePoint << 6) | (byte & 0x3f);
      if (++this.bytesSeen === this.bytesNeeded) {
        out += String.fromCodePoint(this.codePoint);
        this.reset();
      }
    }
    return out;
  }

  /** Ends the stream: an incomplete character becomes one U+FFFD, as TextDecoder does. */
  flush(): string {
    if (this.bytesNeeded === 0) return '';
    this.reset();
    this.numInvalidSequences++;
    return '\uFFFD';
  }

  private reset(): void {
    this.codePoint = 0;
    this.bytesSeen = 0;
    this.bytesNeeded = 0;
    this.lowerBoundary = 0x80;
    this.upperBoundary = 0xbf;
  }
}
