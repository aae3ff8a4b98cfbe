import { Worker } from 'node:worker_threads';
import { DeviceClock } from './device-clock.js';

/**
 * The worker's whole program (CommonJS, run with eval so that it needs no file next to the
 * compiled library, and runs the same under jest): for each target it receives, in order, it
 * sleeps in Atomics.wait until the target (waking early re-waits; a timed wait is a futex wait
 * with a timeout: no CPU is burned) and answers with the target.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const baseNs = workerData.baseNs;
const cell = new Int32Array(new SharedArrayBuffer(4));
const nowMs = () => Number(process.hrtime.bigint() - baseNs) / 1e6;
parentPort.on('message', (wakeMs) => {
  for (;;) {
    const leftMs = wakeMs - nowMs();
    if (leftMs <= 0) break;
    Atomics.wait(cell, 0, 0, leftMs);
  }
  parentPort.postMessage(wakeMs);
});
`;

/** Lead correction per late or early wake, as a fraction of the error (a slow exponential average). */
const LEAD_GAIN = 0.1;
/** Errors beyond this are clipped before they move the lead (a descheduled thread is not the timer's bias). */
const LEAD_ERROR_CLIP_MS = 0.5;
const MAX_LEAD_MS = 1;

interface Sleeper {
  readonly targetMs: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/**
 * The simulated device's timer (the device is a measuring instrument): resolves a promise when
 * the device clock reaches a target, with sub-millisecond precision and without blocking or
 * busying the event loop. setTimeout rounds to whole milliseconds and fires late by ~0.3 ms on
 * average; a busy loop would take a core from the services the simulator runs beside.
 *
 * A worker thread sleeps in Atomics.wait until each target and posts back. The two thread
 * wake-ups (futex in the worker, then the event loop) make every answer late by a fairly
 * constant amount; the timer learns it (leadMs: an exponential average of the clipped error)
 * and asks the worker to wake that much earlier, so the mean error stays near zero.
 *
 * Targets must come in non-decreasing order (one device runs one step at a time); the worker
 * answers them in order.
 */
export class DeviceTimer {
  private readonly worker: Worker;
  private readonly sleepers: Sleeper[] = [];
  private leadMsValue = 0.15;
  private closedError: Error | undefined;
  private readonly online: Promise<void>;
  private rejectOnline: (error: Error) => void = () => {};

  constructor(readonly clock: DeviceClock = new DeviceClock()) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { baseNs: clock.baseNs }, name: 'deepinfer-sim-device-timer' });
    // Referenced until it runs (so that awaiting ready() keeps the process alive), then only
    // while a sleep is pending.
    this.online = new Promise((resolve, reject) => {
      this.rejectOnline = reject;
      this.worker.once('online', () => {
        if (this.sleepers.length === 0) this.worker.unref();
        resolve();
      });
    });
    this.online.catch(() => {}); // failures reach whoever awaits ready() or a sleep
    this.worker.on('message', () => this.wake());
    this.worker.on('error', (error: Error) => this.fail(new Error(`the simulated device's timer thread failed: ${error.message}`)));
    this.worker.on('exit', (code) => this.fail(new Error(`the simulated device's timer thread exited (code ${code})`)));
  }

  /**
   * Resolves once the worker thread runs (~30 ms after construction): a sleep asked for before
   * then would end late by the thread's start-up.
   */
  ready(): Promise<void> {
    return this.closedError ? Promise.reject(this.closedError) : this.online;
  }

  /** How much earlier than a target the worker is woken, ms (learned). */
  get leadMs(): number {
    return this.leadMsValue;
  }

  /** Resolves when the clock reaches targetMs (at once when it already has). */
  sleepUntil(targetMs: number): Promise<void> {
    if (this.closedError) return Promise.reject(this.closedError);
    const wakeMs = targetMs - this.leadMsValue;
    if (this.sleepers.length === 0 && wakeMs <= this.clock.nowMs()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.sleepers.push({ targetMs, resolve, reject });
      if (this.sleepers.length === 1) this.worker.ref(); // a pending step keeps the process alive
      this.worker.postMessage(wakeMs);
    });
  }

  /** Stops the worker; pending sleeps reject. */
  close(): void {
    if (this.closedError) return;
    this.fail(new Error('the simulated device was closed'));
    void this.worker.terminate();
  }

  private wake(): void {
    const sleeper = this.sleepers.shift();
    if (!sleeper) return;
    const errorMs = this.clock.nowMs() - sleeper.targetMs;
    const clipped = Math.max(-LEAD_ERROR_CLIP_MS, Math.min(LEAD_ERROR_CLIP_MS, errorMs));
    this.leadMsValue = Math.max(0, Math.min(MAX_LEAD_MS, this.leadMsValue + LEAD_GAIN * clipped));
    if (this.sleepers.length === 0) this.worker.unref();
    sleeper.resolve();
  }

  private fail(error: Error): void {
    if (this.closedError) return;
    this.closedError = error;
    this.rejectOnline(error);
    for (const sleeper of this.sleepers.splice(0)) sleeper.reject(error);
    this.worker.unref();
  }
}
