import { StepTimeWindow } from './step-time-window.js';

describe('StepTimeWindow', () => {
  it('summarizes the last steps: percentiles and bucket counts of the same steps', () => {
    const window = new StepTimeWindow(4);
    for (const ms of [100, 0.5, 3, 7, 30000]) window.add(ms); // 100 falls out of the window
    const s = window.summary();
    expect(s).toMatchObject({ count: 4, p50Ms: 7, maxMs: 30000 });
    expect(s.histogram.counts.reduce((a, b) => a + b, 0)).toBe(4);
    const countAbove = (ms: number) => s.histogram.counts[s.histogram.upperBoundsMs.indexOf(ms)];
    expect(countAbove(1)).toBe(1);
    expect(countAbove(5)).toBe(1);
    expect(countAbove(10)).toBe(1);
    expect(s.histogram.counts.at(-1)).toBe(1);
  });

  it('is empty before any step', () => {
    expect(new StepTimeWindow().summary()).toMatchObject({ count: 0, p50Ms: null, histogram: { counts: Array(13).fill(0) } });
  });
});
