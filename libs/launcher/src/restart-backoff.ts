/**
 * Exponential restart delays for a crashing service: 0.5 s, 1 s, 2 s, ... capped at maxMs. A
 * service that stayed up for stableMs is considered healthy again and starts over at the bottom.
 */
export class RestartBackoff {
  private numConsecutiveFailures = 0;

  constructor(
    private readonly initialMs = 500,
    private readonly maxMs = 30_000,
    private readonly stableMs = 60_000,
  ) {}

  /** The delay before the next restart of a process that ran for `uptimeMs`. */
  next(uptimeMs: number): number {
    if (uptimeMs >= this.stableMs) this.numConsecutiveFailures = 0;
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** this.numConsecutiveFailures);
    this.numConsecutiveFailures++;
    return delay;
  }

  get failures(): number {
    return this.numConsecutiveFailures;
  }
}
