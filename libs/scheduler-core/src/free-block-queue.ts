import type { KvBlock } from './kv-block.js';

/**
 * The free blocks (ref count 0), as an intrusive doubly linked list so that claiming a cached
 * block from the middle is O(1) and allocation never allocates.
 *
 * Order invariant: the front holds blocks with no hash (nothing worth keeping), then the cached
 * blocks from least to most recently freed. Allocation pops the front, so the least recently
 * used cached block is evicted first and an uncached block is always used before any cached one.
 * Callers keep this order by pushing uncached blocks to the front and cached ones to the back.
 */
export class FreeBlockQueue {
  private head: KvBlock | undefined = undefined;
  private tail: KvBlock | undefined = undefined;
  private numBlocks = 0;

  get size(): number {
    return this.numBlocks;
  }

  pushBack(block: KvBlock): void {
    this.assertDetached(block);
    block.prevFree = this.tail;
    block.nextFree = undefined;
    if (this.tail) this.tail.nextFree = block;
    else this.head = block;
    this.tail = block;
    this.attach(block);
  }

  pushFront(block: KvBlock): void {
    this.assertDetached(block);
    block.prevFree = undefined;
    block.nextFree = this.head;
    if (this.head) this.head.prevFree = block;
    else this.tail = block;
    this.head = block;
    this.attach(block);
  }

  /** Removes and returns the front block (the next to reuse), or undefined when empty. */
  popFront(): KvBlock | undefined {
    const block = this.head;
    if (block) this.remove(block);
    return block;
  }

  remove(block: KvBlock): void {
    if (!block.inFreeQueue) throw new Error(`block ${block.blockId} is not in the free queue`);
    if (block.prevFree) block.prevFree.nextFree = block.nextFree;
    else this.head = block.nextFree;
    if (block.nextFree) block.nextFree.prevFree = block.prevFree;
    else this.tail = block.prevFree;
    block.prevFree = undefined;
    block.nextFree = undefined;
    block.inFreeQueue = false;
    this.numBlocks--;
  }

  /** Front to back, i.e. in eviction order. */
  *[Symbol.iterator](): IterableIterator<KvBlock> {
    for (let block = this.head; block; block = block.nextFree) yield block;
  }

  private attach(block: KvBlock): void {
    block.inFreeQueue = true;
    this.numBlocks++;
  }

  private assertDetached(block: KvBlock): void {
    if (block.inFreeQueue) throw new Error(`block ${block.blockId} is already in the free queue`);
  }
}
