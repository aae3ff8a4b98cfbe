import type { HubSettings } from './hub-settings.js';

/** A repository at one revision: its commit and every file in it. */
export interface RepoRevision {
  /** The 40-hex commit the revision resolved to; every file is then fetched at this commit. */
  readonly commit: string;
  /** Paths relative to the repository root (`siblings[].rfilename`). */
  readonly files: readonly string[];
}

/** What the Hub says about one file before it is downloaded (huggingface_hub's HfFileMetadata). */
export interface HubFileMetadata {
  readonly file: string;
  /** The blob's name in the cache: X-Linked-Etag (LFS: the sha256) else ETag (git blob sha1), unquoted. */
  readonly etag: string;
  /** X-Linked-Size else Content-Length: a complete download has exactly this many bytes. */
  readonly sizeBytes: number;
  /** X-Repo-Commit. */
  readonly commit: string | undefined;
  /** Where the bytes are: the CDN the Hub redirected to (LFS), else the resolve URL itself. */
  readonly downloadUrl: string;
}

/** The Hub answered with an error status; `errorCode` is its X-Error-Code (RepoNotFound, GatedRepo, RevisionNotFound, ...). */
export class HubHttpError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly errorCode: string | undefined,
    readonly hubMessage: string | undefined,
  ) {
    super(`${url}: HTTP ${status}${errorCode ? ` ${errorCode}` : ''}${hubMessage ? `: ${hubMessage}` : ''}`);
    this.name = 'HubHttpError';
  }

  /** Worth retrying: the server or a proxy had a moment, not a refusal. */
  get transient(): boolean {
    return this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

/** No answer at all: refused, unknown host, timed out, reset. */
export class HubNetworkError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`${url}: ${describeNetworkFailure(cause)}`, { cause });
    this.name = 'HubNetworkError';
  }
}

export interface HubClientOptions {
  /** Limit for the small metadata requests (huggingface_hub's HF_HUB_ETAG_TIMEOUT is 10 s). */
  metadataTimeoutMs?: number;
}

/** Most relative redirects followed for one file (a renamed repository answers with one). */
const MAX_RELATIVE_REDIRECTS = 5;

/**
 * The three Hub HTTP calls a download needs, on the global fetch.
 *
 * Why not @huggingface/hub (evaluated at 2.17.5: engines node >= 18, so it runs on Node 20, and
 * its hubUrl parameter changes the endpoint): its downloadFileToCacheDir writes the cache layout
 * but (a) never resumes: it rewrites `.incomplete` from byte 0; (b) takes no lock, so two
 * processes on one cache interleave their writes into the same `.incomplete`; (c) given a branch
 * name, files each file under that file's own last commit rather than the repository's, and only
 * snapshotDownload writes refs/main, by fetching every file of the repository (.bin, GGUF,
 * original/ included); (d) has no progress callback; (e) asks paths-info per file and brings the
 * Xet WASM client and @huggingface/tasks along. Files stored with Xet need none of that here:
 * their resolve URL redirects to a plain HTTP endpoint that honours Range, as huggingface_hub's
 * own fallback without hf_xet uses. Three calls on fetch are less than working around the rest. `Accept-Encoding: identity`
 * everywhere: sizes, ranges and resumed offsets are then about the bytes on disk, never about a
 * compressed transfer.
 */
export class HubClient {
  private readonly endpointOrigin: string;

  constructor(
    private readonly settings: Pick<HubSettings, 'endpoint' | 'token'>,
    private readonly options: HubClientOptions = {},
  ) {
    this.endpointOrigin = new URL(settings.endpoint).origin;
  }

  /** `GET {endpoint}/api/models/{id}/revision/{rev}`: the commit and the file list. */
  async revision(repoId: string, revision: string): Promise<RepoRevision> {
    const url = `${this.settings.endpoint}/api/models/${repoPath(repoId)}/revision/${encodeURIComponent(revision)}`;
    const response = await this.request(url, { method: 'GET', redirect: 'follow', signal: this.metadataSignal() });
    if (!response.ok) throw await hubHttpErrorOf(url, response);
    const body = (await response.json()) as { sha?: unknown; siblings?: { rfilename?: unknown }[] };
    if (typeof body.sha !== 'string' || !Array.isArray(body.siblings)) throw new Error(`${url}: the answer has no sha and siblings`);
    return { commit: body.sha, files: body.siblings.map((s) => s.rfilename).filter((f): f is string => typeof f === 'string') };
  }

  /**
   * `HEAD {endpoint}/{id}/resolve/{commit}/{file}` without following redirects, as
   * huggingface_hub does: the Hub's own answer carries X-Repo-Commit and the ETag; an absolute
   * redirect goes to the CDN that holds the bytes (its answer lacks them), a relative one is a
   * renamed repository and is followed.
   */
  async fileMetadata(repoId: string, commit: string, file: string): Promise<HubFileMetadata> {
    let url = this.resolveUrl(repoId, commit, file);
    for (let hop = 0; ; hop++) {
      const response = await this.request(url, { method: 'HEAD', redirect: 'manual', signal: this.metadataSignal() });
      const location = response.headers.get('location');
      const isRedirect = response.status >= 300 && response.status < 400 && location !== null;
      if (isRedirect && location.startsWith('/') && hop < MAX_RELATIVE_REDIRECTS) {
        url = new URL(location, url).toString();
        continue;
      }
      if (!response.ok && !isRedirect) throw await hubHttpErrorOf(url, response);
      const etag = normalizeEtag(response.headers.get('x-linked-etag') ?? response.headers.get('etag'));
      const sizeBytes = Number(response.headers.get('x-linked-size') ?? response.headers.get('content-length') ?? NaN);
      if (!etag) throw new Error(`${url}: the answer has no ETag, so the file cannot be named in the cache`);
      if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) throw new Error(`${url}: the answer has no size, so a download could not be verified`);
      return {
        file,
        etag,
        sizeBytes,
        commit: response.headers.get('x-repo-commit') ?? undefined,
        downloadUrl: isRedirect ? new URL(location, url).toString() : url,
      };
    }
  }

  /**
   * `GET` of a file's bytes from `offsetBytes` on (a `Range` request when > 0), following the
   * CDN's redirects. The answer is 200 (all of it), 206 (from the offset) or an error status,
   * returned as it is: the downloader decides.
   */
  async openBlob(url: string, offsetBytes: number): Promise<Response> {
    return this.request(url, { method: 'GET', redirect: 'follow', headers: offsetBytes > 0 ? { range: `bytes=${offsetBytes}-` } : {} });
  }

  private resolveUrl(repoId: string, commit: string, file: string): string {
    return `${this.settings.endpoint}/${repoPath(repoId)}/resolve/${encodeURIComponent(commit)}/${file.split('/').map(encodeURIComponent).join('/')}`;
  }

  private metadataSignal(): AbortSignal {
    return AbortSignal.timeout(this.options.metadataTimeoutMs ?? 10_000);
  }

  private async request(url: string, init: Omit<RequestInit, 'headers'> & { headers?: Record<string, string> }): Promise<Response> {
    const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'deepinfer', ...init.headers };
    // The token is for the Hub; a CDN on another origin gets signed URLs and must not see it.
    if (this.settings.token && new URL(url).origin === this.endpointOrigin) headers['authorization'] = `Bearer ${this.settings.token}`;
    try {
      return await fetch(url, { ...init, headers });
    } catch (err) {
      throw new HubNetworkError(url, err);
    }
  }
}

/** `org/name` with each part URL-encoded. */
function repoPath(repoId: string): string {
  return repoId.split('/').map(encodeURIComponent).join('/');
}

/** `W/"abc"` -> `abc`, as huggingface_hub normalises ETags. */
function normalizeEtag(etag: string | null): string | undefined {
  const normalized = etag?.replace(/^W\//, '').replace(/^"|"$/g, '');
  return normalized ? normalized : undefined;
}

/** The HubHttpError for an error answer, with the Hub's X-Error-Code and message. */
export async function hubHttpErrorOf(url: string, response: Response): Promise<HubHttpError> {
  let message = response.headers.get('x-error-message') ?? undefined;
  if (message === undefined) {
    try {
      const body = (await response.json()) as { error?: unknown };
      if (typeof body.error === 'string') message = body.error;
    } catch {
      // not JSON: the status says enough
    }
  }
  return new HubHttpError(url, response.status, response.headers.get('x-error-code') ?? undefined, message);
}

/**
 * `connect ECONNREFUSED 127.0.0.1:9`, `getaddrinfo ENOTFOUND huggingface.co`, `timed out`: the
 * useful part of a fetch failure (fetch says only "fetch failed"; the reason is its cause). Duck
 * typed: errors from Node's own realm fail `instanceof Error` under jest's module sandbox.
 */
export function describeNetworkFailure(err: unknown): string {
  const error = err as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } } | undefined;
  if (error?.name === 'TimeoutError' || error?.name === 'AbortError') return 'no answer in time (timed out)';
  const cause = error?.cause;
  if (typeof cause?.message === 'string' && cause.message) {
    return typeof cause.code === 'string' && !cause.message.includes(cause.code) ? `${cause.code} ${cause.message}` : cause.message;
  }
  return typeof error?.message === 'string' ? error.message : String(err);
}
