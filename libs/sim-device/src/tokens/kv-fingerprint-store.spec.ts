import { KvFingerprintStore } from './kv-fingerprint-store.js';

describe('KvFingerprintStore', () => {
  it('keeps every block signature equal to the XOR of its slots through overlapping writes', () => {
    const store = new KvFingerprintStore(32, 4);
    let x = 1;
    const rand = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % n;
    for (let i = 0; i < 500; i++) {
      const table = Int32Array.from({ length: 6 }, () => rand(32));
      const start = rand(20);
      const tokens = Int32Array.from({ length: 1 + rand(4) }, () => rand(1000));
      store.writeChunk(table, start, tokens, 7, 9);
    }
    expect(() => store.checkSignatures()).not.toThrow();
  });

  it('digests a context the same whatever the chunking of its writes, and differently for another context', () => {
    const tokens = Int32Array.from({ length: 11 }, (_, i) => 100 + i);
    const whole = new KvFingerprintStore(8, 4);
    whole.writeChunk(Int32Array.of(0, 1, 2), 0, tokens, 1, 2);
    whole.digest(Int32Array.of(0, 1, 2), 11, 1, 2);
    const chunked = new KvFingerprintStore(8, 4);
    const table = Int32Array.of(5, 3, 6);
    for (let p = 0; p < 11; p += 3) chunked.writeChunk(table, p, tokens.subarray(p, p + 3), 1, 2);
    chunked.digest(table, 11, 1, 2);
    expect([chunked.digestHi, chunked.digestLo]).toEqual([whole.digestHi, whole.digestLo]);
    const other = new KvFingerprintStore(8, 4);
    const changed = tokens.slice();
    changed[0] = 99;
    other.writeChunk(Int32Array.of(0, 1, 2), 0, changed, 1, 2);
    other.digest(Int32Array.of(0, 1, 2), 11, 1, 2);
    expect([other.digestHi, other.digestLo]).not.toEqual([whole.digestHi, whole.digestLo]);
    // A digest never reads past the end: a slot beyond it may hold anything.
    chunked.writeChunk(table, 11, Int32Array.of(1), 1, 2);
    chunked.digest(table, 11, 1, 2);
    expect([chunked.digestHi, chunked.digestLo]).toEqual([whole.digestHi, whole.digestLo]);
  });
});
