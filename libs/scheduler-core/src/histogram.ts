/** A histogram as plain data (Prometheus-style buckets, non-cumulative counts). */
export interface HistogramData {
  /** Inclusive upper bounds, ascending; an implicit +Inf bucket follows. */
  readonly upperBounds: readonly number[];
  /** [upperBounds.length + 1]: counts per bucket, the last one for values above every bound. */
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** Fixed-bucket histogram; observe() allocates nothing. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(private readonly upperBounds: readonly number[]) {
    for (let i = 1; i < upperBounds.length; i++) {
      if (!(upperBounds[i] > upperBounds[i - 1])) throw new Error('histogram bounds must ascend');
    }
    this.counts = new Array<number>(upperBounds.length + 1).fill(0);
  }

  /** Powers of two from 1 up to at least `max`. */
  static powersOfTwo(max: number): Histogram {
    const bounds: number[] = [];
    for (let bound = 1; bound < max * 2; bound *= 2) bounds.push(bound);
    return new Histogram(bounds);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.upperBounds.length && value > this.upperBounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  toData(): HistogramData {
    return { upperBounds: this.upperBounds.slice(), counts: this.counts.slice(), sum: this.sum, count: this.count };
  }
}
