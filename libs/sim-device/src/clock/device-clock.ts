/**
 * The simulated device's clock (the device is a measuring instrument): milliseconds on the
 * process's monotonic clock (process.hrtime, CLOCK_MONOTONIC), counted from a base, so that the
 * main thread and the timer's worker thread read the same time (performance.now() has a
 * different origin in each thread).
 */
export class DeviceClock {
  constructor(
    /** hrtime at 0 ms. */
    readonly baseNs: bigint = process.hrtime.bigint(),
  ) {}

  nowMs(): number {
    return Number(process.hrtime.bigint() - this.baseNs) / 1e6;
  }
}
