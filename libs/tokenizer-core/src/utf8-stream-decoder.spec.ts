import { Utf8StreamDecoder } from './utf8-stream-decoder.js';

/** A tiny deterministic PRNG, so failures reproduce. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('Utf8StreamDecoder', () => {
  const reference = new TextDecoder('utf-8', { ignoreBOM: true });

  it('decodes valid text split at every byte', () => {
    const text = 'aé日🎉\uFEFFz';
    const bytes = new TextEncoder().encode(text);
    const decoder = new Utf8StreamDecoder();
    let out = '';
    for (const byte of bytes) out += decoder.decode(Uint8Array.of(byte));
    expect(out + decoder.flush()).toBe(text);
  });

  it('reports a pending partial character and flushes it as one U+FFFD', () => {
    const decoder = new Utf8StreamDecoder();
    expect(decoder.decode(Uint8Array.of(0xf0, 0x9f))).toBe('');
    expect(decoder.hasPendingBytes).toBe(true);
    expect(decoder.flush()).toBe('\uFFFD');
    expect(decoder.hasPendingBytes).toBe(false);
  });

  it('matches TextDecoder on random (mostly invalid) bytes in random chunks', () => {
    const random = lcg(42);
    const interesting = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
    for (let round = 0; round < 2000; round++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 12) }, () =>
        random() < 0.7 ? interesting[Math.floor(random() * interesting.length)]! : Math.floor(random() * 256),
      );
      const decoder = new Utf8StreamDecoder();
      let out = '';
      for (let start = 0; start < bytes.length; ) {
        const end = start + 1 + Math.floor(random() * 3);
        out += decoder.decode(bytes.subarray(start, end));
        start = end;
      }
      out += decoder.flush();
      expect(out).toBe(reference.decode(bytes));
    }
  });
});
