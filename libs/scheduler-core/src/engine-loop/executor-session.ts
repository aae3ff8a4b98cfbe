import type { ExecutorRegistration } from '@deepinfer/contracts';
import type { Scheduler } from '../scheduler.js';
import { GuidePreparations } from './guide-preparations.js';

/**
 * One executor's tenure, from its registration until it is replaced (a new epoch, another
 * executor) or fails: its Scheduler (sized by its registration) and the requests admitted into
 * it. Nothing outlives a session: a new one starts with an empty queue and an empty prefix cache.
 *
 * Invariant: `tokenizerOf` holds exactly the requests live in `scheduler` (waiting or running);
 * an entry leaves with the request's final output.
 */
export class ExecutorSession {
  /** requestId → the tokenizer instance holding its stream (where its outputs go). */
  readonly tokenizerOf = new Map<string, string>();
  /** Guided requests held until this executor confirms their grammar, per spec (EngineLoop.submit). */
  readonly guides = new GuidePreparations();
  lastSeenAtMs: number;
  /** Prefix-cache and preemption totals at the last step, to report per-step deltas. */
  lastNumPrefixQueryTokens = 0;
  lastNumPrefixHitTokens = 0;
  lastNumPreemptions = 0;
  private endedFlag = false;
  /** Settle the waits in progress (see waitUnlessEnded) when the session ends. */
  private readonly interruptWaits = new Set<() => void>();

  constructor(
    readonly registration: ExecutorRegistration,
    readonly scheduler: Scheduler,
    readonly registeredAtMs: number,
  ) {
    this.lastSeenAtMs = registeredAtMs;
  }

  get isEnded(): boolean {
    return this.endedFlag;
  }

  /** Same executor process: a registration with the same executor id and epoch is a heartbeat. */
  isSameExecutor(registration: ExecutorRegistration): boolean {
    return registration.executorId === this.registration.executorId && registration.epoch === this.registration.epoch;
  }

  /**
   * `promise`'s value, or undefined as soon as the session ends, whichever comes first: a step
   * awaiting a dead or replaced executor stops waiting at once. One wait per step in flight (two
   * with asynchronous scheduling); each leaves nothing attached to the session once settled, so a
   * long session accumulates nothing.
   */
  waitUnlessEnded<T>(promise: Promise<T>): Promise<T | undefined> {
    if (this.endedFlag) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      const interrupt = () => resolve(undefined);
      this.interruptWaits.add(interrupt);
      promise.then(
        (value) => (this.interruptWaits.delete(interrupt), resolve(value)),
        (err: unknown) => (this.interruptWaits.delete(interrupt), reject(err)),
      );
    });
  }

  end(): void {
    this.endedFlag = true;
    for (const interrupt of this.interruptWaits) interrupt();
    this.interruptWaits.clear();
  }
}
