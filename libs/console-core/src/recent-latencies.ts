/** Percentiles of a set of observations; null when there were none. */
export interface Percentiles {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
}

/** Nearest-rank percentiles of `values` (sorted in place). */
export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: null, p90: null, p99: null };
  values.sort((a, b) => a - b);
  const at = (q: number) => values[Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))]!;
  return { count: values.length, p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

/**
 * The last `capacity` observations with their times; add() allocates nothing. Reading walks
 * them (a few thousand numbers, once a second while someone watches the console).
 */
export class TimedRing {
  private readonly values: Float64Array;
  private readonly times: Float64Array;
  private next = 0;
  private count = 0;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
  }

  add(value: number, atMs: number): void {
    this.values[this.next] = value;
    this.times[this.next] = atMs;
    this.next = (this.next + 1) % this.values.length;
    this.count = Math.min(this.count + 1, this.values.length);
  }

  /** The observations made at or after `sinceMs`. */
  since(sinceMs: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.count; k++) {
      const i = (this.next - 1 - k + this.values.length) % this.values.length;
      if (this.times[i]! < sinceMs) break;
      out.push(this.values[i]!);
    }
    return out;
  }
}

/**
 * What the api itself sees of its requests, kept for the console: time to first token and
 * inter-token latency per observation (seconds), and a running count of generated tokens. The
 * api's request path feeds it beside its Prometheus histograms (O(1) per delta).
 */
export class RecentLatencies {
  readonly ttft: TimedRing;
  readonly itl: TimedRing;
  private numTokens = 0;

  constructor(
    capacity = 8192,
    private readonly clock: () => number = Date.now,
  ) {
    this.ttft = new TimedRing(capacity);
    this.itl = new TimedRing(capacity);
  }

  firstToken(seconds: number): void {
    this.ttft.add(seconds, this.clock());
  }

  interToken(seconds: number): void {
    this.itl.add(seconds, this.clock());
  }

  tokens(count: number): void {
    this.numTokens += count;
  }

  /** Tokens generated since the api started (every choice, streamed or not). */
  get numTokensTotal(): number {
    return this.numTokens;
  }

  now(): number {
    return this.clock();
  }
}
