import type { BlockHash } from './block-hasher.js';
import { FreeBlockQueue } from './free-block-queue.js';
import { KvBlock } from './kv-block.js';
import type { PrefixCacheListener } from './prefix-cache-listener.js';

/**
 * All physical KV blocks, their ref counts, the LRU free queue and the prefix-cache map
 * (hash → block). Knows nothing of requests: KvCacheManager maps requests to blocks.
 *
 * Invariants: numFreeBlocks + numUsedBlocks = numBlocks; a cached block (in the map) with ref
 * count 0 sits in the free queue and counts in numCachedFreeBlocks; at most one block per hash
 * (a second block that fills with the same contents stays unhashed and is reused first).
 */
export class BlockPool {
  readonly blocks: readonly KvBlock[];
  private readonly freeQueue = new FreeBlockQueue();
  private readonly blockByHash = new Map<BlockHash, KvBlock>();
  private numCachedFree = 0;
  /**
   * [numBlocks × blockSize]: the token ids of each hashed block, kept to verify every hit. One
   * flat array rather than an array per block: cached blocks live long, and per-block arrays
   * made the young-generation GC copy them (measured: scavenges dominated the p99 step time).
   */
  private readonly cachedTokenIds: Int32Array;

  constructor(
    readonly numBlocks: number,
    readonly blockSize: number,
    private readonly listener?: PrefixCacheListener,
  ) {
    this.cachedTokenIds = new Int32Array(numBlocks * blockSize);
    const blocks: KvBlock[] = [];
    for (let blockId = 0; blockId < numBlocks; blockId++) {
      const block = new KvBlock(blockId);
      blocks.push(block);
      this.freeQueue.pushBack(block);
    }
    this.blocks = blocks;
  }

  /** Blocks with ref count 0, cached or not: what allocation can use. */
  get numFreeBlocks(): number {
    return this.freeQueue.size;
  }

  get numUsedBlocks(): number {
    return this.numBlocks - this.freeQueue.size;
  }

  /** Free blocks that still hold a cached prefix (evictable hits). */
  get numCachedFreeBlocks(): number {
    return this.numCachedFree;
  }

  /** All blocks registered in the cache, in use or not. */
  get numHashedBlocks(): number {
    return this.blockByHash.size;
  }

  /**
   * The cached block for `blockHash`, if its stored contents really are `tokenIds[start, start +
   * blockSize)` after `parentBlockHash`; a hash collision is then a miss, never a wrong hit.
   */
  findCachedBlock(
    blockHash: BlockHash,
    parentBlockHash: BlockHash,
    tokenIds: readonly number[],
    start: number,
  ): KvBlock | undefined {
    const block = this.blockByHash.get(blockHash);
    if (!block || block.parentBlockHash !== parentBlockHash) return undefined;
    const cached = this.cachedTokenIds;
    const offset = block.blockId * this.blockSize;
    for (let i = 0; i < this.blockSize; i++) if (cached[offset + i] !== tokenIds[start + i]) return undefined;
    return block;
  }

  /** Takes one more reference to a block (a prefix-cache hit); a free block leaves the queue. */
  claim(block: KvBlock): void {
    if (block.refCount === 0) {
      this.freeQueue.remove(block);
      if (block.blockHash !== undefined) this.numCachedFree--;
    }
    block.refCount++;
  }

  /** A block for new KV (ref count 1), evicting the least recently used cached one if needed. */
  allocate(): KvBlock {
    const block = this.freeQueue.popFront();
    if (!block) throw new Error('no free KV block (callers check numFreeBlocks first)');
    if (block.blockHash !== undefined) {
      this.numCachedFree--;
      this.uncache(block);
    }
    block.refCount = 1;
    return block;
  }

  /**
   * Registers a full, held block, holding `tokenIds[start, start + blockSize)`, under `blockHash`.
   * Returns false (and leaves the block unhashed) when another block already holds the same contents.
   */
  cacheBlock(block: KvBlock, blockHash: BlockHash, parentBlockHash: BlockHash, tokenIds: readonly number[], start: number): boolean {
    if (block.refCount === 0 || block.blockHash !== undefined) {
      throw new Error(`block ${block.blockId} must be held and unhashed to be cached`);
    }
    if (this.blockByHash.has(blockHash)) return false;
    block.blockHash = blockHash;
    block.parentBlockHash = parentBlockHash;
    const offset = block.blockId * this.blockSize;
    for (let i = 0; i < this.blockSize; i++) this.cachedTokenIds[offset + i] = tokenIds[start + i];
    this.blockByHash.set(blockHash, block);
    this.listener?.onStored(blockHash);
    return true;
  }

  /**
   * Removes a held block from the cache (its KV was never written: the step that should have
   * written it failed).
   */
  uncacheHeld(block: KvBlock): void {
    if (block.refCount === 0) throw new Error(`block ${block.blockId} is not held`);
    if (block.blockHash !== undefined) this.uncache(block);
  }

  /**
   * Drops one reference. At zero the block joins the free queue: a cached block at the back (most
   * recently used), an uncached one at the front (reused first). Callers release a request's
   * blocks tail first, so its longest prefix stays cached longest.
   */
  release(block: KvBlock): void {
    if (block.refCount <= 0) throw new Error(`block ${block.blockId} released more often than claimed`);
    block.refCount--;
    if (block.refCount > 0) return;
    if (block.blockHash !== undefined) {
      this.freeQueue.pushBack(block);
      this.numCachedFree++;
    } else {
      this.freeQueue.pushFront(block);
    }
  }

  /**
   * Forgets every cached prefix. Only when no block is held (a held block's hash is what lets a
   * running request's later blocks chain); returns false otherwise and changes nothing.
   */
  resetPrefixCache(): boolean {
    if (this.numUsedBlocks > 0) return false;
    for (const block of this.blockByHash.values()) {
      block.blockHash = undefined;
      block.parentBlockHash = undefined;
    }
    this.blockByHash.clear();
    this.numCachedFree = 0;
    this.listener?.onCleared();
    return true;
  }

  /** The free queue front to back (eviction order); for stats and invariant checks. */
  freeBlocksInEvictionOrder(): IterableIterator<KvBlock> {
    return this.freeQueue[Symbol.iterator]();
  }

  /** The cache map; for invariant checks. */
  cachedBlocks(): IterableIterator<[BlockHash, KvBlock]> {
    return this.blockByHash.entries();
  }

  private uncache(block: KvBlock): void {
    this.blockByHash.delete(block.blockHash as BlockHash);
    this.listener?.onRemoved(block.blockHash as BlockHash);
    block.blockHash = undefined;
    block.parentBlockHash = undefined;
  }
}
