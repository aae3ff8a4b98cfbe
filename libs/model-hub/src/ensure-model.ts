import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, resolveModelPath, type ModelPathOptions, type ModelPathOrigin } from '@deepinfer/config';
import type { Logger } from '@deepinfer/observability';
import { ensureBlob, type BlobDownloadOptions } from './blob-download.js';
import { createDownloadProgress, SILENT_PROGRESS, type DownloadProgress, type DownloadProgressMode, type FileDownloadStats, type ProgressStream } from './download-progress.js';
import { HubClient, type HubFileMetadata } from './hub-client.js';
import { hubSettingsFromEnv, type HubSettings } from './hub-settings.js';
import { explainHubFailure, modelConfigError, noSafetensorsError, offlineNotCachedError, type ModelErrorContext } from './model-errors.js';
import { RepoCache } from './repo-cache.js';
import { isHubRepoId } from './repo-id.js';
import { missingServingFiles, planServingFiles, SAFETENSORS_INDEX_FILE, shardsOfIndex } from './serving-files.js';

/** Where the model directory came from: resolveModelPath's origins, or a download just now. */
export type EnsuredModelOrigin = ModelPathOrigin | 'hf-download';

export interface EnsuredModel {
  /** Absolute model directory (for a Hub id: `<hub>/models--org--name/snapshots/<commit>`). */
  readonly directory: string;
  readonly origin: EnsuredModelOrigin;
}

export interface EnsureModelOptions extends ModelPathOptions {
  /** Lifecycle lines (download started, finished) and, without a terminal, one line per file. */
  logger?: Logger;
  /** Default `auto`: a bar on progressStream when it is a terminal, else log lines. */
  progress?: DownloadProgressMode | DownloadProgress;
  /** Where the bar is drawn; default process.stderr (stdout stays the command's output). */
  progressStream?: ProgressStream;
  /** Transfers per file before giving up; default 5. */
  maxAttempts?: number;
  /** Wait before the first retry, doubled after; default 1000 ms. */
  retryDelayMs?: number;
  /** A blob lock not refreshed for this long is taken over; default 30 s. */
  staleLockMs?: number;
  /** How often a process waiting for another's blob looks again; default 250 ms. */
  lockPollMs?: number;
  /** Limit for each metadata request; default 10 s. */
  metadataTimeoutMs?: number;
  /** Files downloaded at once; default 4 (one CDN connection rarely fills a fast link). */
  maxConcurrentFiles?: number;
}

/** The branch served. A `revision` setting would go here; until then `main`, like resolveModelPath's refs/main. */
const REVISION = 'main';

/**
 * The model directory for the `model` setting, downloading from the Hugging Face Hub when needed:
 *   - a local directory (or one under the repository root): as resolveModelPath, no network;
 *   - a Hub id (`org/name`) whose snapshot in the local cache has everything serving reads
 *     (config.json and every safetensors shard): that snapshot, no network;
 *   - else, unless HF_HUB_OFFLINE is set, the serving files are downloaded into the cache (see
 *     planServingFiles), resuming any partial download, and the new snapshot is returned.
 * Several processes may call this at once on one cache (see BlobLock). Throws ConfigError (field
 * `model`, exit 2) for a model that cannot be served and ModelDownloadError when retrying can help.
 */
export async function ensureModel(model: string, options: EnsureModelOptions = {}): Promise<EnsuredModel> {
  const settings = hubSettingsFromEnv(options.env ?? process.env, options.homeDir ?? os.homedir());
  let cached: EnsuredModel | undefined;
  try {
    cached = resolveModelPath(model, options);
  } catch (err) {
    if (!(err instanceof ConfigError) || !isHubRepoId(model)) throw err;
  }
  if (cached && cached.origin !== 'hf-cache') return cached;
  if (cached) {
    const missing = missingServingFiles(cached.directory);
    // Offline, a partial snapshot is still the best there is: the loaders then name what is missing.
    if (missing.length === 0 || settings.offline) return cached;
    options.logger?.info('the cached snapshot lacks files serving needs; completing it from the Hub', { model, directory: cached.directory, missing: missing.join(',') });
  }
  const cache = new RepoCache(settings.cacheDir, model);
  const ctx: ModelErrorContext = { model, settings, cachedAt: path.join(cache.repoDir, 'snapshots', '<commit>') };
  if (settings.offline) throw offlineNotCachedError(ctx);
  try {
    return { directory: await downloadModel(cache, settings, ctx, options), origin: 'hf-download' };
  } catch (err) {
    throw explainHubFailure(err, ctx);
  }
}

async function downloadModel(cache: RepoCache, settings: HubSettings, ctx: ModelErrorContext, options: EnsureModelOptions): Promise<string> {
  const { model } = ctx;
  const { logger } = options;
  const startedMs = performance.now();
  const concurrency = Math.max(1, options.maxConcurrentFiles ?? 4);
  const client = new HubClient(settings, { metadataTimeoutMs: options.metadataTimeoutMs });
  const blobOptions: BlobDownloadOptions = {
    lock: { staleMs: options.staleLockMs ?? 30_000, pollMs: options.lockPollMs ?? 250 },
    maxAttempts: Math.max(1, options.maxAttempts ?? 5),
    retryDelayMs: options.retryDelayMs ?? 1000,
    logger,
  };

  const { commit, files } = await client.revision(model, REVISION);
  const plan = planServingFiles(files);
  if (plan.indexFile === undefined && plan.safetensorsFiles.length === 0) throw noSafetensorsError(ctx, plan.otherWeightFiles);
  const snapshotDir = cache.snapshotDir(commit);
  await cache.prepare();

  // Every file is fetched at `commit`, not at `main`: a push during the download cannot mix two versions.
  const metadataOf = (names: readonly string[]) => mapConcurrently(names, concurrency, (name) => client.fileMetadata(model, commit, name));
  const small = await metadataOf([...plan.metadataFiles, ...(plan.indexFile ? [plan.indexFile] : [])]);
  const statsByFile = new Map<string, FileDownloadStats>();
  let weightFiles = plan.safetensorsFiles;
  if (plan.indexFile) {
    // The index first: the shards are the files its weight_map names.
    const index = small.find((m) => m.file === plan.indexFile)!;
    statsByFile.set(index.file, await ensureBlob(cache, index, client, SILENT_PROGRESS, blobOptions));
    try {
      weightFiles = shardsOfIndex(await fs.readFile(cache.blobPath(index.etag), 'utf8'));
    } catch (err) {
      throw modelConfigError(model, `a repository with a usable ${SAFETENSORS_INDEX_FILE}; ${(err as Error).message}`);
    }
    const absent = weightFiles.filter((f) => !files.includes(f));
    if (absent.length > 0) throw modelConfigError(model, `a complete repository; its ${SAFETENSORS_INDEX_FILE} names shards it does not have: ${absent.join(', ')}`);
  }
  const all: HubFileMetadata[] = [...small, ...(await metadataOf(weightFiles))];
  const totalBytes = all.reduce((sum, m) => sum + m.sizeBytes, 0);
  logger?.info('downloading model from the Hugging Face Hub', { model, endpoint: settings.endpoint, commit, files: all.length, totalBytes, cache: cache.repoDir });

  const progress = typeof options.progress === 'object'
    ? options.progress
    : createDownloadProgress({ mode: options.progress ?? 'auto', label: model, stream: options.progressStream ?? process.stderr, logger, barsDisabled: settings.progressBarsDisabled });
  progress.start(totalBytes, all.length);
  try {
    await mapConcurrently(all, concurrency, async (meta) => {
      const stats = statsByFile.get(meta.file) ?? (await ensureBlob(cache, meta, client, progress, blobOptions));
      progress.fileDone(meta.file, stats);
    });
  } finally {
    progress.finish();
  }

  // Symlinks and the ref last: until every blob is complete there is no snapshot folder (or only
  // the old files of one) for a reader to mistake for a finished model.
  for (const meta of all) await cache.linkIntoSnapshot(commit, meta.file, meta.etag);
  await cache.writeRef(REVISION, commit);
  logger?.info('model downloaded', { model, directory: snapshotDir, totalBytes, seconds: Math.round(performance.now() - startedMs) / 1000 });
  return snapshotDir;
}

/**
 * `fn` over `items`, at most `limit` at a time, results in item order. After the first failure
 * no new item starts, and the call settles only once the running ones have (no download keeps
 * writing after the caller was told it failed); the first failure is thrown.
 */
async function mapConcurrently<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}
