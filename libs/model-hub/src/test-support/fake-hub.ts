import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepoFile {
  /** Path in the repository, e.g. `config.json` or `original/params.json`. */
  path: string;
  content: Buffer | string;
  /** Stored in LFS: the resolve URL redirects to the CDN. Default: *.safetensors and *.bin. */
  lfs?: boolean;
}

export interface FakeHubOptions {
  repoId: string;
  /** 40 hex digits. */
  commit: string;
  files: FakeRepoFile[];
  /** A gated repository: 401 GatedRepo without this Bearer token, 403 with another. */
  token?: string;
  /** The first CDN GET of these files (by path) sends this many bytes of the body, then drops the connection. */
  cutShortBytes?: Record<string, number>;
  /** The CDN sends each body in two halves this far apart (to make two downloads overlap). */
  cdnPauseMs?: number;
}

/** One request as a server saw it. */
export interface RecordedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
}

interface StoredFile {
  path: string;
  content: Buffer;
  lfs: boolean;
  /** Git blob sha1 (a regular file) or sha256 (LFS): what the Hub sends as ETag / X-Linked-Etag. */
  etag: string;
}

/**
 * A stand-in for huggingface.co and its CDN on two local ports, answering the way the real ones
 * do for what a download uses:
 *   GET  /api/models/{org}/{name}/revision/{rev}  -> { sha, siblings: [{ rfilename }] }
 *   HEAD|GET /{org}/{name}/resolve/{rev}/{path}   -> 200 with ETag (git sha1) and X-Repo-Commit for
 *        regular files; 302 to the CDN with X-Linked-Etag (sha256), X-Linked-Size for LFS files
 *   GET  {cdn}/lfs/{sha256}                       -> the bytes, honouring Range (206)
 * Errors carry X-Error-Code as the Hub's do: 401 RepoNotFound without a token (the Hub does not
 * tell a missing repository from a private one), 404 RepoNotFound with one, 404
 * RevisionNotFound, 401/403 GatedRepo.
 */
export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  private readonly files = new Map<string, StoredFile>();
  private readonly cutShortBytes: Map<string, number>;

  private constructor(
    private readonly options: FakeHubOptions,
    private readonly hub: http.Server,
    private readonly cdn: http.Server,
  ) {
    for (const f of options.files) {
      const content = Buffer.from(f.content);
      const lfs = f.lfs ?? /\.(safetensors|bin)$/.test(f.path);
      const etag = lfs
        ? crypto.createHash('sha256').update(content).digest('hex')
        : crypto.createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
      this.files.set(f.path, { path: f.path, content, lfs, etag });
    }
    this.cutShortBytes = new Map(Object.entries(options.cutShortBytes ?? {}));
    hub.on('request', (req, res) => this.onHub(req, res));
    cdn.on('request', (req, res) => this.onCdn(req, res));
  }

  static async start(options: FakeHubOptions): Promise<FakeHub> {
    const listen = async () => {
      const server = http.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      return server;
    };
    return new FakeHub(options, await listen(), await listen());
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
  }

  private get cdnBase(): string {
    return `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  /** The name the blob of `path` gets in the cache. */
  etagOf(path: string): string {
    return this.files.get(path)!.etag;
  }

  contentOf(path: string): Buffer {
    return this.files.get(path)!.content;
  }

  async close(): Promise<void> {
    for (const server of [this.hub, this.cdn]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  private record(server: RecordedRequest['server'], req: http.IncomingMessage): void {
    this.requests.push({ server, method: req.method!, path: req.url!, range: req.headers.range, authorization: req.headers.authorization });
  }

  private onHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('hub', req);
    const { repoId, commit, token } = this.options;
    const url = new URL(req.url!, 'http://hub');
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const [, repo, rev, file] = (api ?? resolve ?? []).map((p) => (p === undefined ? p : decodeURIComponent(p)));
    const fail = (status: number, code: string, message: string) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-error-code': code, 'x-error-message': message });
      res.end(JSON.stringify({ error: message }));
    };
    if (!repo) return fail(404, 'NotFound', 'no such route');
    const auth = req.headers.authorization;
    if (repo !== repoId) return auth ? fail(404, 'RepoNotFound', 'Repository not found') : fail(401, 'RepoNotFound', 'Repository not found');
    if (token !== undefined && auth !== `Bearer ${token}`) {
      return fail(auth ? 403 : 401, 'GatedRepo', `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it.`);
    }
    if (rev !== 'main' && rev !== commit) return fail(404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    if (api) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: repoId, sha: commit, siblings: [...this.files.keys()].map((rfilename) => ({ rfilename })) }));
      return;
    }
    const stored = this.files.get(file!);
    if (!stored) return fail(404, 'EntryNotFound', `${file} does not exist on ${rev}`);
    if (stored.lfs) {
      res.writeHead(302, {
        location: `${this.cdnBase}/lfs/${stored.etag}?signature=fake`,
        'x-repo-commit': commit,
        'x-linked-etag': `"${stored.etag}"`,
        'x-linked-size': String(stored.content.length),
        etag: '"not-the-blob-name"',
        'content-length': '0',
      });
      res.end();
      return;
    }
    serveBytes(req, res, stored.content, { etag: `"${stored.etag}"`, 'x-repo-commit': commit });
  }

  private onCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('cdn', req);
    const sha = /^\/lfs\/([0-9a-f]{64})/.exec(req.url!)?.[1];
    const stored = [...this.files.values()].find((f) => f.lfs && f.etag === sha);
    if (!stored) {
      res.writeHead(404).end();
      return;
    }
    const cut = this.cutShortBytes.get(stored.path);
    if (cut !== undefined) this.cutShortBytes.delete(stored.path);
    serveBytes(req, res, stored.content, {}, { cutAfterBytes: cut, pauseMs: this.options.cdnPauseMs });
  }
}

/** 200, or 206 for `Range: bytes=N-`; with cutAfterBytes the connection drops after that many body bytes. */
function serveBytes(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  content: Buffer,
  headers: Record<string, string>,
  behaviour: { cutAfterBytes?: number; pauseMs?: number } = {},
): void {
  const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
  if (start > content.length || (req.headers.range && start === content.length)) {
    res.writeHead(416, { 'content-range': `bytes */${content.length}` }).end();
    return;
  }
  const body = content.subarray(start);
  res.writeHead(req.headers.range ? 206 : 200, {
    ...headers,
    'accept-ranges': 'bytes',
    'content-length': String(body.length),
    ...(req.headers.range ? { 'content-range': `bytes ${start}-${content.length - 1}/${content.length}` } : {}),
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (behaviour.cutAfterBytes !== undefined) {
    res.write(body.subarray(0, behaviour.cutAfterBytes), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  if (behaviour.pauseMs) {
    const half = Math.floor(body.length / 2);
    res.write(body.subarray(0, half));
    setTimeout(() => res.end(body.subarray(half)), behaviour.pauseMs);
    return;
  }
  res.end(body);
}
