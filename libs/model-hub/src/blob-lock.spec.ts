import fs from 'node:fs';
import { waitFor } from '@deepinfer/testing';
import os from 'node:os';
import path from 'node:path';
import { BlobLock } from './blob-lock.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-blob-lock-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const OPTIONS = { staleMs: 2_000, pollMs: 10 };

describe('BlobLock', () => {
  it('is exclusive: a second acquire waits until the first is released, and release removes the file', async () => {
    const lockPath = path.join(dir, 'exclusive.lock');
    const first = (await BlobLock.acquire(lockPath, OPTIONS))!;
    let secondHeld = false;
    const second = BlobLock.acquire(lockPath, OPTIONS).then((lock) => ((secondHeld = true), lock!));
    await new Promise((r) => setTimeout(r, 100));
    expect(secondHeld).toBe(false);
    await first.release();
    const lock = await second;
    expect(fs.existsSync(lockPath)).toBe(true);
    await lock.release();
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  it('takes over a lock nobody refreshed for staleMs (its holder died)', async () => {
    const lockPath = path.join(dir, 'stale.lock');
    fs.writeFileSync(lockPath, 'a dead process\n');
    const old = new Date(Date.now() - 10_000);
    fs.utimesSync(lockPath, old, old);
    const lock = await BlobLock.acquire(lockPath, OPTIONS);
    expect(lock).toBeDefined();
    expect(fs.readFileSync(lockPath, 'utf8')).not.toBe('a dead process\n');
    await lock!.release();
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('stale.lock'))).toEqual([]);
  });

  it('stops waiting when isDone says the other process finished the blob', async () => {
    const lockPath = path.join(dir, 'done.lock');
    const holder = (await BlobLock.acquire(lockPath, OPTIONS))!;
    let numWaits = 0;
    const result = await BlobLock.acquire(lockPath, OPTIONS, { isDone: async () => numWaits >= 3, onWait: () => void numWaits++ });
    expect(result).toBeUndefined();
    await holder.release();
  });

  it('a holder whose lock was taken over sees lost, and its release leaves the new holder alone', async () => {
    const lockPath = path.join(dir, 'lost.lock');
    const holder = (await BlobLock.acquire(lockPath, { staleMs: 100, pollMs: 10 }))!;
    fs.writeFileSync(lockPath, 'someone else\n');
    // The heartbeat (every 25 ms here) notices; waited for rather than timed, so a loaded
    // machine only makes the test slower, never wrong.
    await waitFor('the holder to see its lock lost', () => holder.lost || undefined, 10_000, 10);
    expect(holder.lost).toBe(true);
    await holder.release();
    expect(fs.readFileSync(lockPath, 'utf8')).toBe('someone else\n');
  });
});

describe('BlobLock on one host', () => {
  it('takes over at once a fresh lock whose holder process is gone', async () => {
    const lockPath = path.join(dir, 'dead-pid.lock');
    fs.writeFileSync(lockPath, `${os.hostname()} 2147483646 some-uuid\n`); // no such process
    const startedMs = Date.now();
    const lock = await BlobLock.acquire(lockPath, { staleMs: 60_000, pollMs: 10 });
    expect(Date.now() - startedMs).toBeLessThan(1000);
    await lock!.release();
  });

  it('takes over a lock naming this process that it does not hold (a restarted container is PID 1 again)', async () => {
    const lockPath = path.join(dir, 'own-pid.lock');
    fs.writeFileSync(lockPath, `${os.hostname()} ${process.pid} from-a-previous-run\n`);
    const lock = await BlobLock.acquire(lockPath, { staleMs: 60_000, pollMs: 10 });
    expect(lock).toBeDefined();
    await lock!.release();
  });

  it('waits for a live holder on this host (another process, or this one)', async () => {
    const lockPath = path.join(dir, 'live.lock');
    fs.writeFileSync(lockPath, `${os.hostname()} ${process.ppid} other-live-process\n`);
    const pending = BlobLock.acquire(lockPath, { staleMs: 60_000, pollMs: 10 });
    expect(await Promise.race([pending, new Promise((r) => setTimeout(() => r('waiting'), 200))])).toBe('waiting');
    fs.rmSync(lockPath);
    await (await pending)!.release();
  });
});
