/** Prepared specs remembered per executor session (least recently used dropped first). */
export const PREPARED_GUIDES_CACHE_SIZE = 64;

/**
 * One executor session's grammar preparations (EngineLoop's prepare step for guided requests):
 * the specs its executor has compiled (an LRU, so that a repeated schema skips the round trip)
 * and, per spec being prepared, the requests held for it. A new session starts empty: a new
 * executor has compiled nothing.
 */
export class GuidePreparations {
  private readonly prepared = new Map<string, true>();
  private readonly holding = new Map<string, string[]>();

  constructor(private readonly cacheSize = PREPARED_GUIDES_CACHE_SIZE) {}

  /** Whether the executor has this spec compiled (as far as we know); touches it. */
  isPrepared(key: string): boolean {
    if (!this.prepared.delete(key)) return false;
    this.prepared.set(key, true);
    return true;
  }

  /** Holds a request for `key`; true when it is the first (the caller asks the executor then). */
  hold(key: string, requestId: string): boolean {
    const held = this.holding.get(key);
    if (held) {
      held.push(requestId);
      return false;
    }
    this.holding.set(key, [requestId]);
    return true;
  }

  /** The preparation of `key` is over: the requests held for it (some may have ended meanwhile); remembers it if it succeeded. */
  settle(key: string, prepared: boolean): string[] {
    const held = this.holding.get(key) ?? [];
    this.holding.delete(key);
    if (prepared) {
      this.prepared.set(key, true);
      while (this.prepared.size > this.cacheSize) this.prepared.delete(this.prepared.keys().next().value as string);
    }
    return held;
  }
}
