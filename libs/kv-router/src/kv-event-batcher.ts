import { KV_EVENTS_MAX_HASHES, type KvEventsMessage } from '@deepinfer/contracts';
import type { BlockHash, PrefixCacheListener } from '@deepinfer/scheduler-core';

export interface KvEventBatcherOptions {
  readonly replicaId: string;
  readonly schedulerInstanceId: string;
  /** Sends one message (the scheduler: a NATS publish on Routes.replicaKvEvents). */
  readonly publish: (message: KvEventsMessage) => void;
  /** How long changes gather before they go out; default 10 ms. */
  readonly flushDelayMs?: number;
  /** Timers, injectable for tests. */
  readonly setTimer?: (fn: () => void, ms: number) => unknown;
}

/**
 * The scheduler's side of the KV events: a PrefixCacheListener that gathers the prefix cache's
 * stores and removals for a few milliseconds and publishes them as one KvEventsMessage (seq
 * counting from 1), so a step that caches a hundred blocks costs one message. A removal of a
 * hash stored in the same batch cancels it; a reset empties the batch and sends `cleared`.
 * `resync(hashes)` publishes `cleared` and the whole set (in chunks of KV_EVENTS_MAX_HASHES),
 * superseding whatever was gathered.
 */
export class KvEventBatcher implements PrefixCacheListener {
  private stored = new Set<string>();
  private removed = new Set<string>();
  private cleared = false;
  private scheduled = false;
  private seqValue = 0;
  private readonly flushDelayMs: number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;

  constructor(private readonly options: KvEventBatcherOptions) {
    this.flushDelayMs = options.flushDelayMs ?? 10;
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
  }

  /** The seq of the last message published (0: none yet). */
  get seq(): number {
    return this.seqValue;
  }

  onStored(blockHash: BlockHash): void {
    this.removed.delete(blockHash);
    this.stored.add(blockHash);
    this.schedule();
  }

  onRemoved(blockHash: BlockHash): void {
    if (!this.stored.delete(blockHash)) this.removed.add(blockHash);
    this.schedule();
  }

  onCleared(): void {
    this.stored.clear();
    this.removed.clear();
    this.cleared = true;
    this.schedule();
  }

  /** Publishes what has gathered now. */
  flush(): void {
    this.scheduled = false;
    if (!this.cleared && this.stored.size === 0 && this.removed.size === 0) return;
    const stored = [...this.stored];
    const removed = [...this.removed];
    const cleared = this.cleared;
    this.stored = new Set();
    this.removed = new Set();
    this.cleared = false;
    this.sendChunks(cleared, stored, removed);
  }

  /** Publishes `cleared` and every hash in `hashes` (the prefix cache now), dropping what had gathered. */
  resync(hashes: readonly string[]): void {
    this.stored.clear();
    this.removed.clear();
    this.cleared = false;
    this.sendChunks(true, hashes, []);
  }

  private sendChunks(cleared: boolean, stored: readonly string[], removed: readonly string[]): void {
    const { replicaId, schedulerInstanceId } = this.options;
    const max = KV_EVENTS_MAX_HASHES;
    const bodies: { stored: string[]; removed: string[] }[] = [];
    if (stored.length + removed.length <= max) {
      bodies.push({ stored: stored.slice(), removed: removed.slice() });
    } else {
      for (let i = 0; i < removed.length; i += max) bodies.push({ stored: [], removed: removed.slice(i, i + max) });
      for (let i = 0; i < stored.length; i += max) bodies.push({ stored: stored.slice(i, i + max), removed: [] });
    }
    for (let i = 0; i < bodies.length; i++) {
      this.options.publish({ replicaId, schedulerInstanceId, seq: ++this.seqValue, ...(i === 0 && cleared ? { cleared: true } : {}), ...bodies[i]! });
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.setTimer(() => this.flush(), this.flushDelayMs);
  }
}
