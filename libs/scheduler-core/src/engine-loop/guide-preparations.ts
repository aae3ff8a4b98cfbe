/**
 * One executor session's grammar preparations in flight (EngineLoop's prepare step for guided
 * requests): per spec key, the requests held until the executor confirms it holds the grammar.
 * One call per spec at a time: requests of a spec already being prepared join the call. Nothing
 * is remembered once a call settles: whether a grammar is compiled, and stays compiled until the
 * request's first step, is the executor's to keep (its worker caches evict and its worker
 * threads come and go), so every guided request asks.
 */
export class GuidePreparations {
  private readonly holding = new Map<string, string[]>();

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

  /** The preparation of `key` is over: the requests held for it (some may have ended meanwhile). */
  settle(key: string): string[] {
    const held = this.holding.get(key) ?? [];
    this.holding.delete(key);
    return held;
  }
}
