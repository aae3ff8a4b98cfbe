import { DeviceTimer } from './device-timer.js';
import { measureTimerAccuracy } from './timer-accuracy.js';

describe('DeviceTimer', () => {
  it('sleeps 1–10 ms with sub-millisecond error (printed; loosely asserted, the machine is shared)', async () => {
    const accuracy = await measureTimerAccuracy({ numSleeps: 300 });
    const ms = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(3)} ms`;
    console.log(
      `timer over ${accuracy.numSleeps} sleeps of 1–10 ms: mean error ${ms(accuracy.meanErrorMs)}, mean |error| ${accuracy.meanAbsErrorMs.toFixed(3)} ms, ` +
        `p50 ${ms(accuracy.p50ErrorMs)}, p99 ${ms(accuracy.p99ErrorMs)}, min ${ms(accuracy.minErrorMs)}, max ${ms(accuracy.maxErrorMs)}; learned lead ${accuracy.leadMs.toFixed(3)} ms`,
    );
    expect(Math.abs(accuracy.p50ErrorMs)).toBeLessThan(0.5);
    expect(accuracy.minErrorMs).toBeGreaterThan(-1.01); // never earlier than the largest lead
  }, 30_000);

  it('answers targets in order, at once when already due, and rejects pending sleeps on close', async () => {
    const timer = new DeviceTimer();
    const now = timer.clock.nowMs();
    const order: number[] = [];
    const sleeps = [3, 6, 9].map((delayMs) => timer.sleepUntil(now + delayMs).then(() => order.push(delayMs)));
    await Promise.all(sleeps);
    expect(order).toEqual([3, 6, 9]);
    expect(timer.clock.nowMs() - now).toBeGreaterThan(9 - 1.01);
    await expect(timer.sleepUntil(timer.clock.nowMs() - 5)).resolves.toBeUndefined();
    const pending = timer.sleepUntil(timer.clock.nowMs() + 1000);
    timer.close();
    await expect(pending).rejects.toThrow('the simulated device was closed');
    await expect(timer.sleepUntil(0)).rejects.toThrow('the simulated device was closed');
  });
});
