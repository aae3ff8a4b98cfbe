import type { Request } from './request.js';

/** The waiting requests, in the order the policy wants them admitted. */
export interface RequestQueue extends Iterable<Request> {
  readonly size: number;
  /** Adds a newly submitted request. */
  add(request: Request): void;
  /** Puts back a preempted request, ahead of requests that never ran (it already waited). */
  addPreempted(request: Request): void;
  /** The next request to admit, not removed. */
  peek(): Request | undefined;
  /** Removes and returns the next request to admit. */
  pop(): Request | undefined;
  /** Removes a request (an abort while waiting); false if absent. */
  remove(request: Request): boolean;
}

/**
 * A scheduling policy: the order of the waiting queue and the choice of which running request
 * to preempt when blocks run out. New policies (priority, fair share) are new implementations,
 * not branches in the scheduler's loop.
 */
export interface SchedulingPolicy {
  readonly name: string;
  createWaitingQueue(): RequestQueue;
  /**
   * Index of the running request to preempt, chosen among running[firstCandidate..] (requests
   * before it are already in this step and keep their blocks). Must return ≥ firstCandidate.
   */
  pickPreemptionVictim(running: readonly Request[], firstCandidate: number): number;
}
