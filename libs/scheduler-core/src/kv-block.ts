import type { BlockHash } from './block-hasher.js';

/**
 * One physical KV block: `blockSize` token slots in the executor's KV cache. The scheduler only
 * keeps the bookkeeping; the executor owns the memory.
 *
 * Invariants (checked by test-support/check-kv-invariants.ts):
 * - `refCount` is the number of live block tables that contain this block;
 * - `inFreeQueue` ⇔ `refCount === 0`;
 * - `blockHash !== undefined` ⇔ the block is registered in the pool's cache map under that hash,
 *   and then `parentBlockHash` and the pool's token copy hold what the hash covers, for verification.
 */
export class KvBlock {
  refCount = 0;
  /** Set when the block is full and registered for prefix caching; cleared on eviction. */
  blockHash: BlockHash | undefined = undefined;
  /** The parent's hash (the root hash for a first block); verified on every cache hit. */
  parentBlockHash: BlockHash | undefined = undefined;

  /** Free-queue links (see FreeBlockQueue); meaningful only while `inFreeQueue`. */
  prevFree: KvBlock | undefined = undefined;
  nextFree: KvBlock | undefined = undefined;
  inFreeQueue = false;

  constructor(readonly blockId: number) {}
}
