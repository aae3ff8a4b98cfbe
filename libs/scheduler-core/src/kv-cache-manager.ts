import { BlockHasher, type BlockHash } from './block-hasher.js';
import { BlockPool } from './block-pool.js';
import type { KvBlock } from './kv-block.js';
import type { PrefixCacheListener } from './prefix-cache-listener.js';
import type { Request } from './request.js';

export interface KvCacheManagerOptions {
  /** From the executor's registration; never configured a second time. */
  readonly numBlocks: number;
  readonly blockSize: number;
  readonly enablePrefixCaching: boolean;
  /** Told of every hash stored in and removed from the prefix cache. */
  readonly listener?: PrefixCacheListener;
}

/** A request's longest verified run of cached leading blocks; not yet claimed. */
export interface CachedPrefix {
  readonly blocks: readonly KvBlock[];
  readonly numTokens: number;
}

const NO_PREFIX: CachedPrefix = Object.freeze({ blocks: Object.freeze([]), numTokens: 0 });

/** A request's block table. Invariant: blocks only grow (until the request ends or is preempted). */
interface BlockTable {
  readonly blocks: KvBlock[];
  /** Leading blocks already hashed (registered, or found to duplicate a registered block). */
  numHashedBlocks: number;
}

/**
 * Maps requests to KV blocks: block tables, allocation as sequences grow, and automatic prefix
 * caching (vLLM v1's bookkeeping): full blocks are registered under a chained hash, hits are
 * verified and claimed before any new block is allocated, and a request's blocks are released
 * tail first so that its longest prefix is evicted last.
 */
export class KvCacheManager {
  readonly blockSize: number;
  readonly enablePrefixCaching: boolean;
  readonly pool: BlockPool;
  private readonly hasher: BlockHasher;
  private readonly tables = new Map<string, BlockTable>();
  private numQueryTokensTotal = 0;
  private numHitTokensTotal = 0;

  constructor(options: KvCacheManagerOptions) {
    this.blockSize = options.blockSize;
    this.enablePrefixCaching = options.enablePrefixCaching;
    this.pool = new BlockPool(options.numBlocks, options.blockSize, options.listener);
    this.hasher = new BlockHasher(options.blockSize);
  }

  /** The parent hash of a first block, for requests that share `extraKey`. */
  hashRoot(extraKey: string): BlockHash {
    return this.hasher.hashRoot(extraKey);
  }

  /**
   * The longest cached prefix of `request` that still leaves at least its last token to compute
   * (the executor must run a position to sample from it): when the whole prompt is cached and
   * block-aligned, the last block is recomputed, as vLLM does. Claims nothing.
   */
  findCachedPrefix(request: Request): CachedPrefix {
    if (!this.enablePrefixCaching) return NO_PREFIX;
    const maxNumBlocks = Math.floor((request.numTokens - 1) / this.blockSize);
    const blocks: KvBlock[] = [];
    let parent = request.rootBlockHash;
    for (let i = 0; i < maxNumBlocks; i++) {
      const blockHash = this.blockHashOf(request, i);
      const block = this.pool.findCachedBlock(blockHash, parent, request.tokenIds, i * this.blockSize);
      if (!block) break;
      blocks.push(block);
      parent = blockHash;
    }
    return blocks.length === 0 ? NO_PREFIX : { blocks, numTokens: blocks.length * this.blockSize };
  }

  /** Counts one admission's lookup in the prefix-cache stats (tokens asked, tokens found). */
  recordPrefixCacheQuery(numQueryTokens: number, numHitTokens: number): void {
    this.numQueryTokensTotal += numQueryTokens;
    this.numHitTokensTotal += numHitTokens;
  }

  /**
   * Makes room for `numNewTokens` more tokens of `request`. A request without a table starts one
   * from `prefix` (its cache hits, claimed first so that allocation cannot evict them) and then
   * has prefix.numTokens computed tokens; otherwise `prefix` must be empty. Returns false, and
   * changes nothing, when the free blocks do not suffice.
   *
   * With prefix caching on, the blocks that these tokens fill are registered at once (vLLM's
   * choice): the executor writes every scheduled token's KV before any attention reads it, so a
   * request admitted later in the same step may already hit them. If the step fails, its
   * registrations are rolled back with `uncacheBlocks` (`hashedBlocksOut` collects them).
   */
  allocateSlots(request: Request, numNewTokens: number, prefix: CachedPrefix = NO_PREFIX, hashedBlocksOut?: KvBlock[]): boolean {
    let table = this.tables.get(request.requestId);
    const hits = prefix.blocks;
    if (table && hits.length > 0) throw new Error(`request ${request.requestId} already has blocks`);
    // Tokens in steps still at the executor count as computed: asynchronous scheduling allocates
    // the next step's slots before the previous step's answer (0 in flight otherwise).
    const numComputedTokens = table ? request.numComputedTokens + request.numScheduledTokensInFlight : prefix.numTokens;
    const numTokensAfter = numComputedTokens + numNewTokens;
    const numHeldBlocks = table ? table.blocks.length : 0;
    const numRequiredBlocks = Math.ceil(numTokensAfter / this.blockSize);
    // The common decode step: room in the last block and no block becoming full.
    const fillsNoBlock = !this.enablePrefixCaching || (table !== undefined && numTokensAfter < (table.numHashedBlocks + 1) * this.blockSize);
    if (table && numRequiredBlocks <= numHeldBlocks && fillsNoBlock) return true;

    const numNewBlocks = Math.max(0, numRequiredBlocks - numHeldBlocks - hits.length);
    let numEvictableHits = 0;
    for (let i = 0; i < hits.length; i++) if (hits[i].refCount === 0) numEvictableHits++;
    if (numNewBlocks + numEvictableHits > this.pool.numFreeBlocks) return false;

    if (!table) {
      table = { blocks: [], numHashedBlocks: hits.length };
      this.tables.set(request.requestId, table);
    }
    for (let i = 0; i < hits.length; i++) {
      this.pool.claim(hits[i]);
      table.blocks.push(hits[i]);
    }
    for (let i = 0; i < numNewBlocks; i++) table.blocks.push(this.pool.allocate());
    // Only blocks whose every token is known can be hashed: a step scheduled ahead computes the
    // token its predecessor samples (unknown here yet), and such a block is hashed by the next
    // allocation after that token arrives.
    if (this.enablePrefixCaching) this.cacheFullBlocks(request, table, Math.min(numTokensAfter, request.numTokens), hashedBlocksOut);
    return true;
  }

  /** Releases every block of `request`, tail first (its longest prefix is evicted last). */
  free(request: Request): void {
    const table = this.tables.get(request.requestId);
    if (!table) return;
    for (let i = table.blocks.length - 1; i >= 0; i--) this.pool.release(table.blocks[i]);
    this.tables.delete(request.requestId);
  }

  /** Forgets the registrations of blocks whose KV was never written (a failed step). */
  uncacheBlocks(blocks: readonly KvBlock[]): void {
    for (const block of blocks) this.pool.uncacheHeld(block);
  }

  /** See BlockPool.resetPrefixCache: false, changing nothing, while any block is held. */
  resetPrefixCache(): boolean {
    return this.pool.resetPrefixCache();
  }

  hasBlocks(requestId: string): boolean {
    return this.tables.has(requestId);
  }

  numBlocksOf(requestId: string): number {
    return this.tables.get(requestId)?.blocks.length ?? 0;
  }

  /** Block ids of the request's table from `start` on (all of them by default). */
  blockIdsOf(requestId: string, start = 0): number[] {
    const blocks = this.tables.get(requestId)?.blocks ?? [];
    const blockIds = new Array<number>(Math.max(0, blocks.length - start));
    for (let i = start; i < blocks.length; i++) blockIds[i - start] = blocks[i].blockId;
    return blockIds;
  }

  /** Every live block table; for invariant checks. */
  blockTables(): IterableIterator<[string, readonly KvBlock[]]> {
    const entries = this.tables.entries();
    return (function* () {
      for (const [requestId, table] of entries) yield [requestId, table.blocks] as [string, readonly KvBlock[]];
    })();
  }

  get numQueryTokens(): number {
    return this.numQueryTokensTotal;
  }

  get numHitTokens(): number {
    return this.numHitTokensTotal;
  }

  private blockHashOf(request: Request, blockIndex: number): BlockHash {
    const hashes = request.blockHashes;
    while (hashes.length <= blockIndex) {
      const parent = hashes.length === 0 ? request.rootBlockHash : hashes[hashes.length - 1];
      hashes.push(this.hasher.hashBlock(parent, request.tokenIds, hashes.length * this.blockSize));
    }
    return hashes[blockIndex];
  }

  private cacheFullBlocks(request: Request, table: BlockTable, numTokens: number, hashedBlocksOut: KvBlock[] | undefined): void {
    const numFullBlocks = Math.floor(numTokens / this.blockSize);
    for (let i = table.numHashedBlocks; i < numFullBlocks; i++) {
      const blockHash = this.blockHashOf(request, i);
      const parent = i === 0 ? request.rootBlockHash : request.blockHashes[i - 1];
      const block = table.blocks[i];
      if (this.pool.cacheBlock(block, blockHash, parent, request.tokenIds, i * this.blockSize)) {
        hashedBlocksOut?.push(block);
      }
    }
    if (numFullBlocks > table.numHashedBlocks) table.numHashedBlocks = numFullBlocks;
  }
}
