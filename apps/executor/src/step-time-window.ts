/** Upper bounds (ms) of the step-time distribution's buckets; a last bucket holds the rest. */
export const STEP_TIME_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] as const;

export interface StepTimeSummary {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Of the same steps: counts per bucket (`upperBoundsMs`, then one above the last bound). */
  histogram: { upperBoundsMs: number[]; counts: number[] };
}

/** The last N step durations, for the admin endpoint's distribution (p50/p90/p99, buckets). */
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

  summary(): StepTimeSummary {
    const counts = new Array<number>(STEP_TIME_BUCKETS_MS.length + 1).fill(0);
    const histogram = { upperBoundsMs: [...STEP_TIME_BUCKETS_MS], counts };
    if (this.count === 0) return { count: 0, p50Ms: null, p90Ms: null, p99Ms: null, maxMs: null, histogram };
    const sorted = Array.from(this.values.subarray(0, this.count)).sort((a, b) => a - b);
    let bucket = 0;
    for (const ms of sorted) {
      while (bucket < STEP_TIME_BUCKETS_MS.length && ms > STEP_TIME_BUCKETS_MS[bucket]!) bucket++;
      counts[bucket]!++;
    }
    const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 1000) / 1000;
    return { count: this.count, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: at(1), histogram };
  }
}
