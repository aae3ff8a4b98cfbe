import { DeviceTimer } from './device-timer.js';

/** Requested vs elapsed sleep times of the simulated device's timer (a measuring instrument's own error). */
export interface TimerAccuracy {
  readonly numSleeps: number;
  /** Mean of elapsed − requested, ms (positive: late). */
  readonly meanErrorMs: number;
  readonly meanAbsErrorMs: number;
  readonly p50ErrorMs: number;
  readonly p99ErrorMs: number;
  readonly maxErrorMs: number;
  readonly minErrorMs: number;
  /** The timer's learned lead at the end, ms. */
  readonly leadMs: number;
}

/**
 * Sleeps numSleeps times for durations spread over [minMs, maxMs] (a fixed pseudo-random
 * sequence), back to back as device steps are, and reports the error of each as the caller sees
 * it: from the call to the promise's resolution. Uses a fresh timer (the first sleeps include
 * its learning the lead; its thread's start-up is waited for) unless one is given.
 */
export async function measureTimerAccuracy(options: { numSleeps?: number; minMs?: number; maxMs?: number; timer?: DeviceTimer } = {}): Promise<TimerAccuracy> {
  const numSleeps = options.numSleeps ?? 300;
  const minMs = options.minMs ?? 1;
  const maxMs = options.maxMs ?? 10;
  const timer = options.timer ?? new DeviceTimer();
  const errors: number[] = [];
  let x = 0x2545f491;
  try {
    await timer.ready();
    for (let i = 0; i < numSleeps; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const requestedMs = minMs + ((x >>> 8) / 2 ** 24) * (maxMs - minMs);
      const startMs = timer.clock.nowMs();
      await timer.sleepUntil(startMs + requestedMs);
      errors.push(timer.clock.nowMs() - startMs - requestedMs);
    }
  } finally {
    if (!options.timer) timer.close();
  }
  const sorted = [...errors].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return {
    numSleeps,
    meanErrorMs: errors.reduce((s, e) => s + e, 0) / numSleeps,
    meanAbsErrorMs: errors.reduce((s, e) => s + Math.abs(e), 0) / numSleeps,
    p50ErrorMs: at(0.5),
    p99ErrorMs: at(0.99),
    maxErrorMs: sorted[sorted.length - 1]!,
    minErrorMs: sorted[0]!,
    leadMs: timer.leadMs,
  };
}
