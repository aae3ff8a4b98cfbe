import { RestartBackoff } from './restart-backoff.js';

test('doubles the delay on quick consecutive failures, caps it, and resets after a stable run', () => {
  const backoff = new RestartBackoff(500, 4000, 60_000);
  expect([backoff.next(10), backoff.next(10), backoff.next(10), backoff.next(10), backoff.next(10)]).toEqual([500, 1000, 2000, 4000, 4000]);
  expect(backoff.next(60_000)).toBe(500);
  expect(backoff.next(5)).toBe(1000);
});
