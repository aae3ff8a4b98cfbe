/**
 * Events per second over the last few events (a ring of their times): O(1) per event, no
 * timer. Reads 0 once no event came for `staleAfterMs`.
 */
export class RateMeter {
  private readonly times: Float64Array;
  private next = 0;
  private count = 0;

  constructor(
    private readonly clock: () => number,
    capacity = 64,
    private readonly staleAfterMs = 2000,
  ) {
    this.times = new Float64Array(capacity);
  }

  record(): void {
    this.times[this.next] = this.clock();
    this.next = (this.next + 1) % this.times.length;
    if (this.count < this.times.length) this.count++;
  }

  perSecond(): number {
    if (this.count < 2) return 0;
    const last = this.times[(this.next - 1 + this.times.length) % this.times.length];
    if (this.clock() - last > this.staleAfterMs) return 0;
    const first = this.times[(this.next - this.count + this.times.length) % this.times.length];
    return last > first ? ((this.count - 1) * 1000) / (last - first) : 0;
  }
}
