import type { BlockHash } from './block-hasher.js';

/**
 * What the prefix cache tells the outside world: a block hash became a hit candidate (stored)
 * or stopped being one (removed: evicted for new KV, rolled back after a failed step), or the
 * whole cache was dropped (cleared). The scheduler service publishes these for the KV-aware
 * router (libs/kv-router); each call is O(1) and runs on the scheduling path.
 */
export interface PrefixCacheListener {
  onStored(blockHash: BlockHash): void;
  onRemoved(blockHash: BlockHash): void;
  onCleared(): void;
}
