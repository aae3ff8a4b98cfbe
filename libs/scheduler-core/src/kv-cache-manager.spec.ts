import { KvCacheManager } from './kv-cache-manager.js';
import { checkKvInvariants } from './test-support/check-kv-invariants.js';
import { admit, makeRequest } from './test-support/make-request.js';

const range = (start: number, end: number) => Array.from({ length: end - start }, (_, i) => start + i);

describe('KvCacheManager prefix caching (block size 4, 10 blocks)', () => {
  let kv: KvCacheManager;
  const evictionOrder = () => [...kv.pool.freeBlocksInEvictionOrder()].map((block) => block.blockId);
  const cachedIds = () => [...kv.pool.cachedBlocks()].map(([, block]) => block.blockId).sort((a, b) => a - b);

  beforeEach(() => {
    kv = new KvCacheManager({ numBlocks: 10, blockSize: 4, enablePrefixCaching: true });
  });
  afterEach(() => checkKvInvariants(kv));

  it('allocates blocks in id order and caches only full blocks', () => {
    const a = makeRequest(kv, 'a', range(0, 10));
    expect(admit(kv, a)).toBe(true);
    expect(kv.blockIdsOf('a')).toEqual([0, 1, 2]);
    expect(cachedIds()).toEqual([0, 1]); // block 2 holds 2 of 4 tokens
    expect(kv.pool.numUsedBlocks).toBe(3);
  });

  it('shares a cached prefix between running requests (ref count 2) and computes only the rest', () => {
    const a = makeRequest(kv, 'a', range(0, 10));
    admit(kv, a);
    const b = makeRequest(kv, 'b', [...range(0, 8), 100, 101, 102]);
    const prefix = kv.findCachedPrefix(b);
    expect(prefix.numTokens).toBe(8);
    expect(prefix.blocks.map((block) => block.blockId)).toEqual([0, 1]);
    expect(kv.allocateSlots(b, 3, prefix)).toBe(true);
    expect(kv.blockIdsOf('b')).toEqual([0, 1, 3]);
    expect(kv.pool.blocks[0].refCount).toBe(2);
    expect(kv.pool.blocks[1].refCount).toBe(2);
    expect(kv.pool.blocks[3].refCount).toBe(1);
  });

  it('releases tail first: uncached blocks are reused first, then cached ones from the longest prefix end', () => {
    const a = makeRequest(kv, 'a', range(0, 10));
    admit(kv, a);
    const b = makeRequest(kv, 'b', [...range(0, 8), 100, 101, 102]);
    admit(kv, b);
    kv.free(a); // block 2 (partial) to the front; 1 and 0 still held by b
    kv.free(b); // block 3 (partial) to the front; then 1, then 0 to the back
    expect(evictionOrder()).toEqual([3, 2, 4, 5, 6, 7, 8, 9, 1, 0]);
    expect(kv.pool.numCachedFreeBlocks).toBe(2);
    expect(kv.pool.numUsedBlocks).toBe(0);

    // Eight new blocks use the uncached ones; the ninth evicts block 1 (LRU), keeping block 0.
    const c = makeRequest(kv, 'c', range(500, 536));
    admit(kv, c);
    expect(kv.blockIdsOf('c')).toEqual([3, 2, 4, 5, 6, 7, 8, 9, 1]);
    expect(cachedIds()).toContain(0);
    expect(kv.pool.blocks[1].blockHash).not.toBeUndefined(); // now holds c's 9th block, hashed anew
    const again = makeRequest(kv, 'again', range(0, 12));
    expect(kv.findCachedPrefix(again).blocks.map((block) => block.blockId)).toEqual([0]);
  });

  it('claims hits before allocating, so a hit is never evicted by its own allocation', () => {
    const a = makeRequest(kv, 'a', range(0, 9)); // blocks 0, 1 cached, 2 partial
    admit(kv, a);
    kv.free(a);
    const filler = makeRequest(kv, 'filler', range(900, 932)); // 8 blocks: exactly the uncached ones
    admit(kv, filler);
    expect(kv.pool.numFreeBlocks).toBe(2); // only cached blocks 1, 0 remain
    const b = makeRequest(kv, 'b', range(0, 9));
    const prefix = kv.findCachedPrefix(b);
    expect(prefix.numTokens).toBe(8);
    // Needs 1 new block besides the 2 hits, but both free blocks are the hits themselves.
    expect(kv.allocateSlots(b, 1, prefix)).toBe(false);
    expect(kv.pool.blocks[0].refCount).toBe(0);
    const c = makeRequest(kv, 'c', range(0, 8)); // block-aligned: hits block 0 only, recomputes block 1
    const prefixC = kv.findCachedPrefix(c);
    expect(prefixC.blocks.map((block) => block.blockId)).toEqual([0]);
    expect(kv.allocateSlots(c, 4, prefixC)).toBe(true);
    expect(kv.blockIdsOf('c')).toEqual([0, 1]); // block 1 was the only free block left: evicted and reused
  });

  it('always leaves the last prompt token to compute when the whole prompt is cached', () => {
    admit(kv, makeRequest(kv, 'a', range(0, 8)));
    kv.free({ requestId: 'a' } as never);
    const aligned = makeRequest(kv, 'aligned', range(0, 8));
    expect(kv.findCachedPrefix(aligned).numTokens).toBe(4); // back off one block
    const longer = makeRequest(kv, 'longer', range(0, 9));
    expect(kv.findCachedPrefix(longer).numTokens).toBe(8);
  });

  it('does not hit when the extra key (model revision, cache salt) differs', () => {
    admit(kv, makeRequest(kv, 'a', range(0, 12), 'model@rev1'));
    expect(kv.findCachedPrefix(makeRequest(kv, 'b', range(0, 12), 'model@rev2')).numTokens).toBe(0);
    expect(kv.findCachedPrefix(makeRequest(kv, 'c', range(0, 12), 'model@rev1')).numTokens).toBe(8);
  });

  it('does not hit a block whose stored tokens or parent differ from the request (hash collision)', () => {
    const a = makeRequest(kv, 'a', range(0, 8));
    admit(kv, a);
    const [hash0, hash1] = a.blockHashes;
    expect(kv.pool.findCachedBlock(hash1, hash0, range(0, 8), 4)?.blockId).toBe(1);
    expect(kv.pool.findCachedBlock(hash1, hash0, [0, 1, 2, 3, 4, 5, 6, 99], 4)).toBeUndefined();
    expect(kv.pool.findCachedBlock(hash1, hash1, range(0, 8), 4)).toBeUndefined();
  });

  it('does not match a block after a different prefix (chained hash)', () => {
    admit(kv, makeRequest(kv, 'a', [...range(0, 4), ...range(50, 58)]));
    const b = makeRequest(kv, 'b', [...range(10, 14), ...range(50, 58)]); // same 2nd/3rd block tokens
    expect(kv.findCachedPrefix(b).numTokens).toBe(0);
  });

  it('keeps the first block when two requests fill the same contents, and reuses the duplicate first', () => {
    const a = makeRequest(kv, 'a', range(0, 5));
    const b = makeRequest(kv, 'b', range(0, 5));
    admit(kv, a);
    // b looked up before a's blocks existed: it computes its own copy.
    expect(kv.allocateSlots(b, 5)).toBe(true);
    b.numComputedTokens = 5;
    expect(kv.blockIdsOf('b')).toEqual([2, 3]);
    expect(kv.pool.blocks[2].blockHash).toBeUndefined();
    kv.free(b);
    kv.free(a);
    expect(evictionOrder().slice(0, 4)).toEqual([1, 2, 3, 4]);
    expect(evictionOrder().at(-1)).toBe(0);
  });

  it('resets the prefix cache only when no block is held', () => {
    const a = makeRequest(kv, 'a', range(0, 9));
    admit(kv, a);
    expect(kv.resetPrefixCache()).toBe(false);
    expect(kv.pool.numHashedBlocks).toBe(2);
    kv.free(a);
    expect(kv.resetPrefixCache()).toBe(true);
    expect(kv.pool.numHashedBlocks).toBe(0);
    expect(kv.pool.numCachedFreeBlocks).toBe(0);
    expect(kv.findCachedPrefix(makeRequest(kv, 'b', range(0, 9))).numTokens).toBe(0);
  });

  it('caches nothing with prefix caching off', () => {
    const off = new KvCacheManager({ numBlocks: 4, blockSize: 4, enablePrefixCaching: false });
    const a = makeRequest(off, 'a', range(0, 9));
    admit(off, a);
    off.free(a);
    expect(off.pool.numHashedBlocks).toBe(0);
    expect(off.findCachedPrefix(makeRequest(off, 'b', range(0, 9))).numTokens).toBe(0);
    checkKvInvariants(off);
  });
});
