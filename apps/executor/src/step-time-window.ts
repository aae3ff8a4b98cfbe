/** The last N step durations, for the admin endpoint's distribution (p50/p90/p99). */
export class StepTimeWindow {
  private readonly values: Float64Array;
  private next = 0;
  private count = 0;

  constructor(capacity = 1024) {
    this.values = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.values[this.next] = ms;
    this.next = (this.next + 1) % this.values.length;
    this.count = Math.min(this.count + 1, this.values.length);
  }

  summary(): { count: number; p50Ms: number | null; p90Ms: number | null; p99Ms: number | null; maxMs: number | null } {
    if (this.count === 0) return { count: 0, p50Ms: null, p90Ms: null, p99Ms: null, maxMs: null };
    const sorted = Array.from(this.values.subarray(0, this.count)).sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 1000) / 1000;
    return { count: this.count, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: at(1) };
  }
}
