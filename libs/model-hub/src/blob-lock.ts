import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';

export interface BlobLockOptions {
  /**
   * A lock not refreshed for this long belongs to a process that died (or a container that was
   * killed) and is taken over. The holder refreshes it every staleMs / 4, so a live holder is
   * never taken over unless its event loop stalls for the whole period.
   */
  staleMs: number;
  /** How often a waiting process looks again. */
  pollMs: number;
}

export interface AcquireHooks {
  /** Checked while waiting: true when the other process finished the blob, so there is nothing left to do. */
  isDone?: () => Promise<boolean>;
  /** Called after each wait (e.g. to report the other process's progress). */
  onWait?: () => Promise<void> | void;
}

/**
 * A lock file per blob, so that two processes downloading the same repository at once (the
 * tokenizer and the executor, started together by docker compose on one shared cache) never
 * write the same `.incomplete` file together. Taken by exclusive create (O_EXCL works on local
 * file systems and on the volumes compose mounts, where flock(2) across containers is not
 * something to rely on), kept fresh by touching its mtime, released by deleting it.
 *
 * A lock is stale when it was not refreshed for staleMs (its holder died somewhere, e.g. in
 * another container), or at once when it names this host and a process that is gone (Ctrl-C
 * during `deepinfer serve`, then a rerun), or this very process but a lock it does not hold (a
 * restarted container whose service is PID 1 again).
 *
 * Invariant: at most one live holder per lock file. A stale lock is taken over by renaming it to
 * a unique name first, so of two waiters that both judged it stale only one removes it; a holder
 * whose lock was nevertheless taken over sees `lost` become true and stops writing.
 */
/** Tokens of the locks this process holds now (to tell its own live locks from a previous incarnation's). */
const heldTokens = new Set<string>();

export class BlobLock {
  private heartbeat: NodeJS.Timeout | undefined;
  private lostLock = false;

  private constructor(
    readonly lockPath: string,
    private readonly token: string,
    staleMs: number,
  ) {
    this.heartbeat = setInterval(() => void this.refresh(), Math.max(10, Math.floor(staleMs / 4)));
    this.heartbeat.unref();
  }

  /** True once another process took this lock over: the holder must stop writing. */
  get lost(): boolean {
    return this.lostLock;
  }

  /** Waits for the lock; resolves undefined instead when hooks.isDone() says the blob was finished meanwhile. */
  static async acquire(lockPath: string, options: BlobLockOptions, hooks: AcquireHooks = {}): Promise<BlobLock | undefined> {
    const token = `${os.hostname()} ${process.pid} ${crypto.randomUUID()}\n`;
    for (;;) {
      try {
        await fs.writeFile(lockPath, token, { flag: 'wx' });
        heldTokens.add(token);
        return new BlobLock(lockPath, token, options.staleMs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (hooks.isDone && (await hooks.isDone())) return undefined;
      const mtimeMs = await fs.stat(lockPath).then((s) => s.mtimeMs, () => undefined);
      if (mtimeMs === undefined) continue; // released between our create and stat: try again at once
      if (Date.now() - mtimeMs > options.staleMs || (await holderIsGone(lockPath))) {
        const aside = `${lockPath}.stale-${crypto.randomUUID()}`;
        try {
          await fs.rename(lockPath, aside);
          await fs.rm(aside, { force: true });
        } catch {
          // another waiter took it over first
        }
        continue;
      }
      await hooks.onWait?.();
      await new Promise((resolve) => setTimeout(resolve, options.pollMs));
    }
  }

  /** Deletes the lock file if it is still ours. */
  async release(): Promise<void> {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (await this.stillOurs()) await fs.rm(this.lockPath, { force: true });
    heldTokens.delete(this.token);
  }

  private async refresh(): Promise<void> {
    if (!(await this.stillOurs())) {
      this.lostLock = true;
      clearInterval(this.heartbeat);
      return;
    }
    const now = new Date();
    await fs.utimes(this.lockPath, now, now).catch(() => undefined);
  }

  private async stillOurs(): Promise<boolean> {
    return (await fs.readFile(this.lockPath, 'utf8').catch(() => undefined)) === this.token;
  }
}

/** True when the lock names this host and a holder that cannot be alive (see BlobLock). */
async function holderIsGone(lockPath: string): Promise<boolean> {
  const token = await fs.readFile(lockPath, 'utf8').catch(() => '');
  const [host, pidText] = token.split(' ');
  const pid = Number(pidText);
  if (host !== os.hostname() || !Number.isSafeInteger(pid) || pid <= 0) return false; // another machine or container: only the mtime can tell
  if (pid === process.pid) return !heldTokens.has(token);
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
