import { fmix32 } from './fingerprint.js';

// Math's functions as module constants: a global lookup per call is ~20× slower in a vm context
// (jest's), which would make the host-cost test measure the lookup, not the device.
const { ceil, floor, imul, log2, max } = Math;


/**
 * The simulated device's "logits" (the device is a measuring instrument): for a context
 * fingerprint, an order of the whole vocabulary — rank 0 is the context's own token, the most
 * likely one — computed for any single id or rank in O(1), never for the whole vocabulary.
 *
 * The order is a pseudo-random permutation of [0, vocabSize) keyed by the fingerprint: a
 * 4-round Feistel network on the smallest even number of bits that covers the vocabulary,
 * cycle-walked back into range (at most 4× the domain, so ~2 walks on average). The BOS id is
 * taken out of the order: it has no rank and is never sampled.
 */
export class TokenRanking {
  private readonly halfBits: number;
  private readonly halfMask: number;
  private readonly halfSize: number;
  private k0 = 0;
  private k1 = 0;
  private k2 = 0;
  private k3 = 0;
  /** BOS's position in the permutation for the current key; -1 without BOS. */
  private bosPosition = -1;

  constructor(
    readonly vocabSize: number,
    /** -1: none. */
    readonly bosTokenId: number,
  ) {
    if (!Number.isInteger(vocabSize) || vocabSize < 2 || vocabSize > 2 ** 31) throw new RangeError(`vocabSize must be in [2, 2^31], got ${vocabSize}`);
    const bits = max(2, ceil(log2(vocabSize)));
    this.halfBits = ceil(bits / 2);
    this.halfSize = 2 ** this.halfBits;
    this.halfMask = this.halfSize - 1;
  }

  /** Ids that have a rank (all but BOS). */
  get numRanked(): number {
    return this.bosTokenId >= 0 && this.bosTokenId < this.vocabSize ? this.vocabSize - 1 : this.vocabSize;
  }

  /** Selects the order of the context with this fingerprint. */
  rekey(hi: number, lo: number): void {
    this.k0 = fmix32(lo ^ 0x3c6ef372);
    this.k1 = fmix32(hi ^ 0xa54ff53a);
    this.k2 = fmix32((lo + hi) ^ 0x510e527f);
    this.k3 = fmix32(imul(hi ^ lo, 0x9b05688c) ^ 0x1f83d9ab);
    const bos = this.bosTokenId;
    this.bosPosition = bos >= 0 && bos < this.vocabSize ? this.inverse(bos) : -1;
  }

  /** The id at `rank` (0 ≤ rank < numRanked). */
  idAt(rank: number): number {
    const position = this.bosPosition >= 0 && rank >= this.bosPosition ? rank + 1 : rank;
    return this.forward(position);
  }

  /** The rank of `id`; -1 for BOS. */
  rankOf(id: number): number {
    if (id === this.bosTokenId) return -1;
    const position = this.inverse(id);
    return this.bosPosition >= 0 && position > this.bosPosition ? position - 1 : position;
  }

  private forward(x: number): number {
    do x = this.feistel(x);
    while (x >= this.vocabSize);
    return x;
  }

  private inverse(y: number): number {
    do y = this.feistelInverse(y);
    while (y >= this.vocabSize);
    return y;
  }

  private round(half: number, key: number): number {
    return fmix32(half ^ key) & this.halfMask;
  }

  private feistel(x: number): number {
    let l = floor(x / this.halfSize);
    let r = x & this.halfMask;
    let t = l ^ this.round(r, this.k0);
    l = r;
    r = t;
    t = l ^ this.round(r, this.k1);
    l = r;
    r = t;
    t = l ^ this.round(r, this.k2);
    l = r;
    r = t;
    t = l ^ this.round(r, this.k3);
    l = r;
    r = t;
    return l * this.halfSize + r;
  }

  private feistelInverse(y: number): number {
    let l = floor(y / this.halfSize);
    let r = y & this.halfMask;
    let t = r ^ this.round(l, this.k3);
    r = l;
    l = t;
    t = r ^ this.round(l, this.k2);
    r = l;
    l = t;
    t = r ^ this.round(l, this.k1);
    r = l;
    l = t;
    t = r ^ this.round(l, this.k0);
    r = l;
    l = t;
    return l * this.halfSize + r;
  }
}
