import type { Request } from './request.js';
import type { RequestQueue, SchedulingPolicy } from './scheduling-policy.js';

/**
 * First come, first served: waiting requests in arrival order (preempted ones in front);
 * preemption takes the youngest running request, which has the least work to recompute.
 */
export class FcfsPolicy implements SchedulingPolicy {
  readonly name = 'fcfs';

  createWaitingQueue(): RequestQueue {
    return new FcfsRequestQueue();
  }

  pickPreemptionVictim(running: readonly Request[], firstCandidate: number): number {
    // `running` is in admission order, so its last element is the youngest.
    if (running.length <= firstCandidate) throw new Error('no preemption candidate');
    return running.length - 1;
  }
}

/**
 * A deque over an array with a moving head, so admission (pop) is O(1); the dead prefix is
 * compacted once it outgrows the live part. Order invariant: preempted requests (most recently
 * preempted first) then new requests in arrival order.
 */
class FcfsRequestQueue implements RequestQueue {
  private items: Request[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  add(request: Request): void {
    this.items.push(request);
  }

  addPreempted(request: Request): void {
    if (this.head > 0) this.items[--this.head] = request;
    else this.items.unshift(request);
  }

  peek(): Request | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  pop(): Request | undefined {
    if (this.head >= this.items.length) return undefined;
    const request = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return request;
  }

  remove(request: Request): boolean {
    const index = this.items.indexOf(request, this.head);
    if (index < 0) return false;
    this.items.splice(index, 1);
    return true;
  }

  *[Symbol.iterator](): IterableIterator<Request> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i];
  }
}
