import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { repoFolderName } from './repo-id.js';

/** A git commit id: the name of a snapshot folder. */
const COMMIT = /^[0-9a-f]{40}$/;
/** A blob name: the Hub's ETag (a git blob sha1 or an LFS sha256); no dot, so never `..`. */
const ETAG = /^[\w-]+$/;

/**
 * One model repository in the huggingface_hub cache, laid out exactly as Python writes it so that
 * both read each other's downloads (and resolveModelPath finds ours):
 *
 *     <cache>/models--org--name/blobs/<etag>               a file's bytes, named by its ETag
 *     <cache>/models--org--name/blobs/<etag>.incomplete    a download in progress (resumable)
 *     <cache>/models--org--name/snapshots/<commit>/<file>  symlink to ../../blobs/<etag> (relative)
 *     <cache>/models--org--name/refs/main                  the commit `main` pointed at
 *     <cache>/.locks/models--org--name/<etag>.deepinfer.lock   held by the one process writing <etag>
 *
 * Invariants: a blob exists only complete (it is renamed from .incomplete after its size was
 * checked); symlinks and refs are replaced atomically (written under a temporary name, then
 * renamed), so a concurrent reader sees the old or the new one, never half of one.
 */
export class RepoCache {
  /** `<cache>/models--org--name`. */
  readonly repoDir: string;
  private readonly locksDir: string;

  constructor(
    readonly cacheDir: string,
    readonly repoId: string,
  ) {
    this.repoDir = path.join(cacheDir, repoFolderName(repoId));
    this.locksDir = path.join(cacheDir, '.locks', repoFolderName(repoId));
  }

  blobPath(etag: string): string {
    if (!ETAG.test(etag)) throw new Error(`not a usable ETag for a blob name: ${JSON.stringify(etag)}`);
    return path.join(this.repoDir, 'blobs', etag);
  }

  incompletePath(etag: string): string {
    return `${this.blobPath(etag)}.incomplete`;
  }

  /**
   * Python's lock for the same blob is `<etag>.lock`, held with flock(2) and left on disk after
   * release; an exclusive-create lock by that name would see every leftover Python lock as
   * taken. Ours has its own name, so a Python download and ours are not serialised (rare; the
   * size check on completion still catches a blob both wrote).
   */
  lockPath(etag: string): string {
    this.blobPath(etag);
    return path.join(this.locksDir, `${etag}.deepinfer.lock`);
  }

  snapshotDir(commit: string): string {
    if (!COMMIT.test(commit)) throw new Error(`not a commit id: ${JSON.stringify(commit)}`);
    return path.join(this.repoDir, 'snapshots', commit);
  }

  /** Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink (atomic replace). */
  async linkIntoSnapshot(commit: string, file: string, etag: string): Promise<void> {
    const pointer = path.join(this.snapshotDir(commit), file);
    if (path.relative(this.snapshotDir(commit), pointer).startsWith('..')) throw new Error(`file name leaves the snapshot: ${file}`);
    await fs.mkdir(path.dirname(pointer), { recursive: true });
    const target = path.relative(path.dirname(pointer), this.blobPath(etag));
    const temporary = `${pointer}.${crypto.randomUUID()}.tmp`;
    await fs.symlink(target, temporary);
    await fs.rename(temporary, pointer);
  }

  /** Writes refs/<revision> = commit (atomic replace), as huggingface_hub does for a branch. */
  async writeRef(revision: string, commit: string): Promise<void> {
    const ref = path.join(this.repoDir, 'refs', revision);
    await fs.mkdir(path.dirname(ref), { recursive: true });
    const temporary = `${ref}.${crypto.randomUUID()}.tmp`;
    await fs.writeFile(temporary, commit);
    await fs.rename(temporary, ref);
  }

  /** Creates the blobs/ and lock folders. */
  async prepare(): Promise<void> {
    await fs.mkdir(path.join(this.repoDir, 'blobs'), { recursive: true });
    await fs.mkdir(this.locksDir, { recursive: true });
  }
}

/** The size of a file in bytes, or undefined when there is none. */
export async function fileSizeBytes(file: string): Promise<number | undefined> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return undefined;
  }
}
