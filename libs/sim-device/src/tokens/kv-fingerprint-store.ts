import { chainHi, chainLo, foldHi, foldLo } from './fingerprint.js';

/**
 * The simulated device's KV cache (the device is a measuring instrument): one 64-bit
 * fingerprint per slot (numBlocks × blockSize slots) in place of the K/V vectors, written and
 * read through block tables exactly where the real engine writes and reads K/V.
 *
 * - Writing token t at position p stores chain(fingerprint at p − 1, read through the block
 *   table, or the model's root at p = 0; t; p). A slot's fingerprint therefore stands for the
 *   whole context up to it, like real K/V (which depends on every earlier token).
 * - What a sampled token is computed from (digest) reads the context the way attention does:
 *   every block of the table up to the last position. Full blocks are read as their block
 *   signature, the XOR of their slots' fingerprints (kept up to date on every write, so a
 *   block that someone else overwrote even partly reads differently); the last, partial block
 *   slot by slot up to the last position (slots past it are never read, as in attention).
 *
 * Hence a wrong block table, a wrong prefix-cache hit, a block reused while still needed, a
 * wrong start position or two sequences mixed up all change the sampled tokens, while batching,
 * chunking and correct cache hits do not (the digest depends only on the slots' contents).
 *
 * Invariant: for every block b, sig[b] = XOR of fp[s] over its blockSize slots s.
 */
export class KvFingerprintStore {
  private readonly slotHi: Uint32Array;
  private readonly slotLo: Uint32Array;
  private readonly sigHi: Uint32Array;
  private readonly sigLo: Uint32Array;
  /** The last digest() result (kept in fields: the hot path allocates nothing). */
  digestHi = 0;
  digestLo = 0;

  constructor(
    readonly numBlocks: number,
    readonly blockSize: number,
  ) {
    const numSlots = numBlocks * blockSize;
    this.slotHi = new Uint32Array(numSlots);
    this.slotLo = new Uint32Array(numSlots);
    this.sigHi = new Uint32Array(numBlocks);
    this.sigLo = new Uint32Array(numBlocks);
  }

  /** Bytes this store holds (16 per slot plus 8 per block): the device's host-memory cost. */
  get byteLength(): number {
    return this.slotHi.byteLength * 2 + this.sigHi.byteLength * 2;
  }

  /**
   * Writes positions [startPos, startPos + tokenIds.length) of one sequence, chaining from the
   * slot of startPos − 1 (or from the root at 0). The caller has checked the table covers them.
   */
  writeChunk(blockTable: Int32Array, startPos: number, tokenIds: Int32Array, rootHi: number, rootLo: number): void {
    const bs = this.blockSize;
    const slotHi = this.slotHi;
    const slotLo = this.slotLo;
    const sigHi = this.sigHi;
    const sigLo = this.sigLo;
    let hi = rootHi;
    let lo = rootLo;
    if (startPos > 0) {
      const p = startPos - 1;
      const slot = blockTable[(p / bs) | 0]! * bs + (p % bs);
      hi = slotHi[slot]!;
      lo = slotLo[slot]!;
    }
    for (let i = 0; i < tokenIds.length; i++) {
      const p = startPos + i;
      const t = tokenIds[i]!;
      const nextHi = chainHi(hi, lo, t, p);
      const nextLo = chainLo(hi, lo, t, p);
      hi = nextHi;
      lo = nextLo;
      const block = blockTable[(p / bs) | 0]!;
      const slot = block * bs + (p % bs);
      sigHi[block] ^= slotHi[slot]! ^ hi;
      sigLo[block] ^= slotLo[slot]! ^ lo;
      slotHi[slot] = hi;
      slotLo[slot] = lo;
    }
  }

  /**
   * The context [0, end) of a sequence as attention reads it (see the class comment), from the
   * root; the result is left in digestHi / digestLo.
   */
  digest(blockTable: Int32Array, end: number, rootHi: number, rootLo: number): void {
    const bs = this.blockSize;
    const numFull = (end / bs) | 0;
    let hi = rootHi;
    let lo = rootLo;
    for (let j = 0; j < numFull; j++) {
      const block = blockTable[j]!;
      const h = this.sigHi[block]!;
      const l = this.sigLo[block]!;
      const nextHi = foldHi(hi, lo, h, l, j);
      lo = foldLo(hi, lo, h, l, j);
      hi = nextHi;
    }
    const rest = end - numFull * bs;
    if (rest > 0) {
      const base = blockTable[numFull]! * bs;
      let h = 0;
      let l = 0;
      for (let k = 0; k < rest; k++) {
        h ^= this.slotHi[base + k]!;
        l ^= this.slotLo[base + k]!;
      }
      const nextHi = foldHi(hi, lo, h >>> 0, l >>> 0, numFull);
      lo = foldLo(hi, lo, h >>> 0, l >>> 0, numFull);
      hi = nextHi;
    }
    this.digestHi = hi;
    this.digestLo = lo;
  }

  /** Forgets every slot (a device reset): all fingerprints and signatures zero. */
  clear(): void {
    this.slotHi.fill(0);
    this.slotLo.fill(0);
    this.sigHi.fill(0);
    this.sigLo.fill(0);
  }

  /** Checks the signature invariant over every block (tests). */
  checkSignatures(): void {
    const bs = this.blockSize;
    for (let b = 0; b < this.numBlocks; b++) {
      let h = 0;
      let l = 0;
      for (let k = 0; k < bs; k++) {
        h ^= this.slotHi[b * bs + k]!;
        l ^= this.slotLo[b * bs + k]!;
      }
      if (h >>> 0 !== this.sigHi[b] || l >>> 0 !== this.sigLo[b]) throw new Error(`block ${b}: signature does not match its slots`);
    }
  }
}
