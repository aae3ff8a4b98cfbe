import fs from 'node:fs/promises';
import type { Logger } from '@deepinfer/observability';
import { BlobLock, type BlobLockOptions } from './blob-lock.js';
import type { DownloadProgress, FileDownloadStats } from './download-progress.js';
import { HubHttpError, hubHttpErrorOf, type HubClient, type HubFileMetadata } from './hub-client.js';
import { fileSizeBytes, type RepoCache } from './repo-cache.js';

export interface BlobDownloadOptions {
  lock: BlobLockOptions;
  /** Transfers tried per file before giving up; each after the first resumes where the last stopped. */
  maxAttempts: number;
  /** Wait before the second attempt; doubled for each further one, at most 30 s. */
  retryDelayMs: number;
  logger?: Logger;
}

/** Another process took over our lock (it judged us dead): we must stop writing the shared .incomplete. */
class LockLostError extends Error {
  constructor(file: string) {
    super(`${file}: another process took over the download lock`);
    this.name = 'LockLostError';
  }
}

/** Times a lost lock is re-acquired before giving up (it takes a stall of the whole stale period to lose it). */
const MAX_LOCK_TAKEOVERS = 3;

/**
 * Makes blobs/<etag> exist, complete, for one file: nothing to do when it is already there with
 * the announced size; else, under the blob's lock, downloads into blobs/<etag>.incomplete,
 * resuming what is there with a Range request, and renames it into place once its size is
 * exactly the announced size. A process that finds the lock taken waits, reporting the other's
 * progress, and is done when the blob appears.
 */
export async function ensureBlob(
  cache: RepoCache,
  meta: HubFileMetadata,
  client: Pick<HubClient, 'openBlob'>,
  progress: DownloadProgress,
  options: BlobDownloadOptions,
): Promise<FileDownloadStats> {
  const startedMs = performance.now();
  const blob = cache.blobPath(meta.etag);
  const incomplete = cache.incompletePath(meta.etag);
  const isComplete = async () => (await fileSizeBytes(blob)) === meta.sizeBytes;
  const finished = (source: FileDownloadStats['source'], downloadedBytes = 0, resumedFromBytes = 0): FileDownloadStats => ({
    sizeBytes: meta.sizeBytes,
    downloadedBytes,
    resumedFromBytes,
    seconds: (performance.now() - startedMs) / 1000,
    source,
  });
  if (await isComplete()) return finished('cached');

  for (let takeover = 0; ; takeover++) {
    let waited = false;
    const lock = await BlobLock.acquire(cache.lockPath(meta.etag), options.lock, {
      isDone: isComplete,
      onWait: async () => {
        waited = true;
        progress.update(meta.file, (await fileSizeBytes(incomplete)) ?? 0);
      },
    });
    if (!lock) return finished('other-process');
    try {
      if (await isComplete()) return finished(waited ? 'other-process' : 'cached');
      if ((await fileSizeBytes(blob)) !== undefined) {
        options.logger?.warn('cached blob has the wrong size; downloading it again', { file: meta.file, blob, expectedBytes: meta.sizeBytes });
        await fs.rm(blob, { force: true });
      }
      const resumedFromBytes = (await fileSizeBytes(incomplete)) ?? 0;
      const downloadedBytes = await downloadWithResume(meta, incomplete, blob, client, progress, lock, options);
      return finished('downloaded', downloadedBytes, resumedFromBytes);
    } catch (err) {
      if (!(err instanceof LockLostError) || takeover >= MAX_LOCK_TAKEOVERS) throw err;
      options.logger?.warn('lost the download lock to another process; waiting for it', { file: meta.file });
    } finally {
      await lock.release();
    }
  }
}

/** Attempts until .incomplete holds exactly sizeBytes, then renames it to the blob; returns the bytes transferred. */
async function downloadWithResume(
  meta: HubFileMetadata,
  incomplete: string,
  blob: string,
  client: Pick<HubClient, 'openBlob'>,
  progress: DownloadProgress,
  lock: BlobLock,
  options: BlobDownloadOptions,
): Promise<number> {
  if (meta.sizeBytes === 0) await fs.writeFile(incomplete, '');
  let transferredBytes = 0;
  let lastError: unknown;
  for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
    if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, options.retryDelayMs * 2 ** (attempt - 2))));
    try {
      transferredBytes += await transferOnce(meta, incomplete, client, progress, lock);
    } catch (err) {
      if (!isRetryable(err)) throw err;
      lastError = err;
      options.logger?.warn('download interrupted; resuming', { file: meta.file, attempt, of: options.maxAttempts, err: (err as Error).message });
      continue;
    }
    const haveBytes = (await fileSizeBytes(incomplete)) ?? 0;
    if (haveBytes === meta.sizeBytes) {
      if (lock.lost) throw new LockLostError(meta.file);
      await fs.rename(incomplete, blob);
      return transferredBytes;
    }
    lastError = new Error(`the transfer ended at byte ${haveBytes} of ${meta.sizeBytes}`);
  }
  throw new Error(`${meta.file}: gave up after ${options.maxAttempts} attempts: ${(lastError as Error | undefined)?.message ?? 'no attempt made'}`, { cause: lastError });
}

/** One GET from the current end of .incomplete; appends what arrives and returns how many bytes that was. */
async function transferOnce(meta: HubFileMetadata, incomplete: string, client: Pick<HubClient, 'openBlob'>, progress: DownloadProgress, lock: BlobLock): Promise<number> {
  let offsetBytes = (await fileSizeBytes(incomplete)) ?? 0;
  if (offsetBytes > meta.sizeBytes) {
    await fs.truncate(incomplete, 0); // longer than the file can be: not ours to resume
    offsetBytes = 0;
  }
  if (offsetBytes === meta.sizeBytes) return 0;
  const response = await client.openBlob(meta.downloadUrl, offsetBytes);
  if (response.status === 416) {
    await response.body?.cancel();
    await fs.truncate(incomplete, 0);
    throw new TransferError(`the server refused to resume at byte ${offsetBytes}; starting over`);
  }
  if (!response.ok) throw await hubHttpErrorOf(meta.downloadUrl, response);
  if (response.status === 206) {
    const rangeStart = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
    if (Number(rangeStart) !== offsetBytes) {
      await response.body?.cancel();
      throw new TransferError(`asked for bytes from ${offsetBytes}, got Content-Range ${response.headers.get('content-range')}`);
    }
  } else {
    offsetBytes = 0; // a 200 is the whole file: the server does not do ranges; start over
  }
  if (!response.body) throw new TransferError('the answer has no body');
  const handle = await fs.open(incomplete, offsetBytes === 0 ? 'w' : 'a');
  let writtenBytes = 0;
  try {
    for await (const chunk of response.body) {
      if (lock.lost) throw new LockLostError(meta.file);
      if (offsetBytes + writtenBytes + chunk.byteLength > meta.sizeBytes) {
        await handle.truncate(0);
        throw new TransferError(`the server sent more than the ${meta.sizeBytes} bytes it announced`);
      }
      await handle.write(chunk);
      writtenBytes += chunk.byteLength;
      progress.update(meta.file, offsetBytes + writtenBytes);
    }
  } finally {
    await handle.close();
  }
  return writtenBytes;
}

/** A transfer went wrong in a way another attempt can fix. */
class TransferError extends Error {
  override name = 'TransferError';
}

/**
 * Network failures, a cut connection and 5xx/408/429 are worth another (resuming) attempt; a
 * refusal (4xx), a local file system error (no space, no permission: it has `syscall`) or a lost
 * lock are not.
 */
function isRetryable(err: unknown): boolean {
  if (err instanceof LockLostError) return false;
  if (err instanceof HubHttpError) return err.transient;
  return !(typeof err === 'object' && err !== null && 'syscall' in err); // duck typed: fs errors come from Node's realm
}
