import { BlockAllocator } from './block-allocator.js';

describe('BlockAllocator', () => {
  it('hands out the lowest free ids and takes them back', () => {
    const a = new BlockAllocator(4);
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual([0, 1, 2]);
    a.release([1, 0]);
    expect(a.numFree).toBe(3);
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual([0, 1, 3]);
    expect(a.numFree).toBe(0);
  });

  it('says when it runs out', () => {
    const a = new BlockAllocator(1);
    a.allocate();
    expect(() => a.allocate()).toThrow('out of KV blocks: all 1 are in use');
    expect(() => new BlockAllocator(0)).toThrow('numBlocks must be an integer >= 1');
  });
});
