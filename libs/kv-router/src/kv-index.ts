/** The most replicas one index tracks: a block's holders are one 32-bit mask. */
export const MAX_INDEXED_REPLICAS = 32;

/**
 * Which replicas hold which prefix-cache blocks: block hash → bit mask of replica slots, plus
 * each slot's own hash set (to clear a replica in one pass). A request's overlap with every
 * replica at once is one walk over its prefix hashes: one Map lookup per block, AND-ing the
 * masks; a replica's overlap is the number of leading blocks before its bit drops (a chained
 * hash covers its whole prefix, so holding block i without i-1 is no use to the request).
 */
export class KvIndex {
  private readonly holders = new Map<string, number>();
  private readonly slotHashes: Set<string>[] = [];

  constructor(readonly numSlots = MAX_INDEXED_REPLICAS) {
    if (numSlots < 1 || numSlots > MAX_INDEXED_REPLICAS) throw new RangeError(`numSlots must be in [1, ${MAX_INDEXED_REPLICAS}]`);
    for (let i = 0; i < numSlots; i++) this.slotHashes.push(new Set());
  }

  /** Distinct hashes held by at least one replica. */
  get size(): number {
    return this.holders.size;
  }

  /** Hashes held by one slot. */
  sizeOf(slot: number): number {
    return this.slotHashes[slot]!.size;
  }

  store(slot: number, hashes: readonly string[]): void {
    const bit = 1 << slot;
    const own = this.slotHashes[slot]!;
    for (const hash of hashes) {
      own.add(hash);
      this.holders.set(hash, ((this.holders.get(hash) ?? 0) | bit) >>> 0);
    }
  }

  remove(slot: number, hashes: readonly string[]): void {
    const bit = 1 << slot;
    const own = this.slotHashes[slot]!;
    for (const hash of hashes) {
      if (!own.delete(hash)) continue;
      this.unset(hash, bit);
    }
  }

  /** Forgets every hash of `slot`. */
  clear(slot: number): void {
    const bit = 1 << slot;
    const own = this.slotHashes[slot]!;
    for (const hash of own) this.unset(hash, bit);
    own.clear();
  }

  /**
   * Leading blocks of `prefixHashes` each slot holds: out[slot] for every slot (out is filled,
   * length numSlots). Stops at the first block nobody holds.
   */
  overlaps(prefixHashes: readonly string[], out: Int32Array): void {
    out.fill(0);
    let alive = 0xffffffff >>> 0;
    for (let i = 0; i < prefixHashes.length; i++) {
      const mask = (this.holders.get(prefixHashes[i]!) ?? 0) & alive;
      // Slots alive before and not holding this block stop at i.
      let dropped = (alive & ~mask) >>> 0;
      while (dropped !== 0) {
        const slot = 31 - Math.clz32(dropped);
        if (slot < out.length) out[slot] = i;
        dropped = (dropped & ~(1 << slot)) >>> 0;
      }
      alive = mask >>> 0;
      if (alive === 0) return;
    }
    while (alive !== 0) {
      const slot = 31 - Math.clz32(alive);
      if (slot < out.length) out[slot] = prefixHashes.length;
      alive = (alive & ~(1 << slot)) >>> 0;
    }
  }

  private unset(hash: string, bit: number): void {
    const mask = ((this.holders.get(hash) ?? 0) & ~bit) >>> 0;
    if (mask === 0) this.holders.delete(hash);
    else this.holders.set(hash, mask);
  }
}
