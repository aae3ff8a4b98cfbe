import { FreeBlockQueue } from './free-block-queue.js';
import { KvBlock } from './kv-block.js';

describe('FreeBlockQueue', () => {
  const ids = (queue: FreeBlockQueue) => [...queue].map((block) => block.blockId);

  it('pops from the front, removes from the middle, and pushes at either end', () => {
    const blocks = [0, 1, 2, 3].map((id) => new KvBlock(id));
    const queue = new FreeBlockQueue();
    for (const block of blocks) queue.pushBack(block);
    expect(ids(queue)).toEqual([0, 1, 2, 3]);
    queue.remove(blocks[2]);
    expect(ids(queue)).toEqual([0, 1, 3]);
    expect(queue.popFront()?.blockId).toBe(0);
    queue.pushFront(blocks[2]);
    queue.pushBack(blocks[0]);
    expect(ids(queue)).toEqual([2, 1, 3, 0]);
    expect(queue.size).toBe(4);
    queue.remove(blocks[0]);
    queue.remove(blocks[2]);
    expect(ids(queue)).toEqual([1, 3]);
  });

  it('refuses a block twice and removal of an absent block', () => {
    const block = new KvBlock(7);
    const queue = new FreeBlockQueue();
    queue.pushBack(block);
    expect(() => queue.pushFront(block)).toThrow(/already/);
    queue.remove(block);
    expect(() => queue.remove(block)).toThrow(/not in the free queue/);
    expect(queue.popFront()).toBeUndefined();
  });
});
