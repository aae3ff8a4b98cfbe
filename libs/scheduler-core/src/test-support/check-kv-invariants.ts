import type { KvCacheManager } from '../kv-cache-manager.js';

/**
 * Throws unless the block manager's state is consistent:
 * - each block's ref count equals the number of block tables holding it (no table holds it twice);
 * - a block is in the free queue exactly when its ref count is 0 (never both free and held);
 * - the free queue has no duplicates, its size + used blocks = total, and its order is uncached
 *   blocks then cached ones;
 * - the cache map holds exactly the blocks with a hash, under that hash, and the cached-free
 *   count equals the hashed blocks with ref count 0.
 */
export function checkKvInvariants(kv: KvCacheManager): void {
  const pool = kv.pool;
  const holders = new Array<number>(pool.numBlocks).fill(0);
  for (const [requestId, blocks] of kv.blockTables()) {
    const seen = new Set<number>();
    for (const block of blocks) {
      if (seen.has(block.blockId)) fail(`request ${requestId} holds block ${block.blockId} twice`);
      seen.add(block.blockId);
      holders[block.blockId]++;
    }
  }
  let numHashed = 0;
  let numCachedFree = 0;
  let numZeroRef = 0;
  for (const block of pool.blocks) {
    if (block.refCount !== holders[block.blockId]) {
      fail(`block ${block.blockId}: ref count ${block.refCount}, held by ${holders[block.blockId]} tables`);
    }
    if (block.inFreeQueue !== (block.refCount === 0)) fail(`block ${block.blockId}: inFreeQueue=${block.inFreeQueue}, ref ${block.refCount}`);
    if (block.refCount === 0) numZeroRef++;
    if (block.blockHash !== undefined) {
      numHashed++;
      if (block.refCount === 0) numCachedFree++;
    }
  }
  const inQueue = new Set<number>();
  let seenCached = false;
  for (const block of pool.freeBlocksInEvictionOrder()) {
    if (inQueue.has(block.blockId)) fail(`block ${block.blockId} twice in the free queue`);
    inQueue.add(block.blockId);
    if (block.refCount !== 0) fail(`block ${block.blockId} in the free queue with ref ${block.refCount}`);
    if (block.blockHash !== undefined) seenCached = true;
    else if (seenCached) fail(`uncached block ${block.blockId} behind a cached one in the free queue`);
  }
  if (inQueue.size !== numZeroRef || inQueue.size !== pool.numFreeBlocks) {
    fail(`free queue holds ${inQueue.size}, ref-0 blocks ${numZeroRef}, numFreeBlocks ${pool.numFreeBlocks}`);
  }
  if (pool.numFreeBlocks + pool.numUsedBlocks !== pool.numBlocks) fail('free + used ≠ total');
  let numMapped = 0;
  for (const [blockHash, block] of pool.cachedBlocks()) {
    numMapped++;
    if (block.blockHash !== blockHash) fail(`cache map: ${blockHash} → block ${block.blockId} hashed ${block.blockHash}`);
  }
  if (numMapped !== numHashed) fail(`cache map has ${numMapped} entries, ${numHashed} blocks have a hash`);
  if (numCachedFree !== pool.numCachedFreeBlocks) fail(`cached free blocks ${numCachedFree}, counted ${pool.numCachedFreeBlocks}`);
}

function fail(message: string): never {
  throw new Error(`KV invariant broken: ${message}`);
}
