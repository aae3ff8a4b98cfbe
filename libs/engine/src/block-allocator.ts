import { EngineError } from './engine.errors.js';

/**
 * A free list of physical KV block ids for in-process generation (the CLI, tests). It knows
 * nothing of prefixes or sharing: the real block manager, with prefix caching and preemption,
 * is libs/scheduler-core's. Lowest ids first, so a lone sequence gets blocks 0, 1, 2, …
 */
export class BlockAllocator {
  private readonly free: number[];

  constructor(readonly numBlocks: number) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new EngineError(`BlockAllocator: numBlocks must be an integer >= 1 (got ${numBlocks})`);
    this.free = Array.from({ length: numBlocks }, (_, i) => numBlocks - 1 - i);
  }

  get numFree(): number {
    return this.free.length;
  }

  allocate(): number {
    const id = this.free.pop();
    if (id === undefined) throw new EngineError(`out of KV blocks: all ${this.numBlocks} are in use`);
    return id;
  }

  release(ids: Iterable<number>): void {
    for (const id of ids) this.free.push(id);
    this.free.sort((a, b) => b - a);
  }
}
