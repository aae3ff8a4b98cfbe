import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GOLDEN_TEXT } from './support/golden.js';
import { REPO_ROOT, startStack, type Stack } from './support/stack.js';

const REPO_ID = 'deepinfer-test/stories260k';
const COMMIT = '5eed260000000000000000000000000000000260';
const MODEL_DIR = path.join(REPO_ROOT, 'models', 'stories260k');
/** What serving needs of the bundled model's files (not README.md or the golden outputs). */
const SERVED = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

interface HubFile {
  content: Buffer;
  lfs: boolean;
  etag: string;
}

/**
 * A local stand-in for huggingface.co serving models/stories260k as `deepinfer-test/stories260k`:
 * the revision API, resolve URLs with ETag and X-Repo-Commit, and an LFS redirect for the weights
 * to a CDN-like path that honours Range. Every request path is recorded.
 */
async function startLocalHub(requests: string[]): Promise<http.Server> {
  const files = new Map<string, HubFile>();
  for (const name of fs.readdirSync(MODEL_DIR)) {
    const content = fs.readFileSync(path.join(MODEL_DIR, name));
    const lfs = name.endsWith('.safetensors');
    const etag = lfs ? crypto.createHash('sha256').update(content).digest('hex') : crypto.createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
    files.set(name, { content, lfs, etag });
  }
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const url = new URL(req.url!, base);
    if (url.pathname === `/api/models/${REPO_ID}/revision/main`) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: REPO_ID, sha: COMMIT, siblings: [...files.keys()].map((rfilename) => ({ rfilename })) }));
      return;
    }
    const resolve = new RegExp(`^/${REPO_ID}/resolve/(?:main|${COMMIT})/(.+)$`).exec(url.pathname);
    const cdn = /^\/cdn-lfs\/([0-9a-f]{64})$/.exec(url.pathname);
    const file = resolve ? files.get(decodeURIComponent(resolve[1]!)) : cdn ? [...files.values()].find((f) => f.etag === cdn[1]) : undefined;
    if (!file) {
      res.writeHead(404, { 'x-error-code': resolve ? 'EntryNotFound' : 'RepoNotFound' }).end();
      return;
    }
    if (resolve && file.lfs) {
      res.writeHead(302, { location: `${base}/cdn-lfs/${file.etag}`, 'x-repo-commit': COMMIT, 'x-linked-etag': `"${file.etag}"`, 'x-linked-size': String(file.content.length) }).end();
      return;
    }
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const body = file.content.subarray(start);
    res.writeHead(req.headers.range ? 206 : 200, {
      ...(resolve ? { etag: `"${file.etag}"`, 'x-repo-commit': COMMIT } : {}),
      'content-length': String(body.length),
      ...(req.headers.range ? { 'content-range': `bytes ${start}-${file.content.length - 1}/${file.content.length}` } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return server;
}

/** `deepinfer serve --model org/name` with an empty cache: downloaded once, then served. One stack for the file. */
describe('deepinfer serve with a Hugging Face Hub id', () => {
  const requests: string[] = [];
  const hfHome = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-hf-home-'));
  const repoDir = path.join(hfHome, 'hub', 'models--deepinfer-test--stories260k');
  let hub: http.Server;
  let stack: Stack;

  beforeAll(async () => {
    hub = await startLocalHub(requests);
    const endpoint = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
    // Only this test's hub and cache: empty values unset whatever the machine has.
    stack = await startStack(['--model', REPO_ID], { HF_ENDPOINT: endpoint, HF_HOME: hfHome, HF_HUB_CACHE: '', HF_HUB_OFFLINE: '', HF_TOKEN: '', HUGGING_FACE_HUB_TOKEN: '' });
  });
  afterAll(async () => {
    if (stack) await stack.stop('SIGINT');
    hub?.close();
    fs.rmSync(hfHome, { recursive: true, force: true });
  });

  it('serves the golden greedy story of the downloaded model, named by its Hub id as vLLM does', async () => {
    const models = (await (await fetch(`http://127.0.0.1:${stack.apiPort}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual([REPO_ID]);
    const executor = (await (await fetch(`http://127.0.0.1:${stack.adminPorts.executor}/executor`)).json()) as { model: { name: string } };
    expect(executor.model.name).toBe(REPO_ID);
    const response = await fetch(`http://127.0.0.1:${stack.apiPort}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: REPO_ID, prompt: '', max_tokens: 200, temperature: 0 }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { choices: { text: string }[] }).choices[0]!.text).toBe(GOLDEN_TEXT);
  });

  it('left the huggingface_hub cache layout, downloaded once by the launcher and found there by the services', () => {
    expect(fs.readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    const snapshot = path.join(repoDir, 'snapshots', COMMIT);
    expect(fs.readdirSync(snapshot).sort()).toEqual(SERVED);
    for (const name of SERVED) {
      const target = fs.readlinkSync(path.join(snapshot, name));
      expect(target).toMatch(/^\.\.\/\.\.\/blobs\/[0-9a-f]{40,64}$/);
      expect(fs.readFileSync(path.join(snapshot, name)).equals(fs.readFileSync(path.join(MODEL_DIR, name)))).toBe(true);
    }
    expect(requests.filter((r) => r.startsWith('GET /cdn-lfs/'))).toHaveLength(1);
    expect(requests.filter((r) => r.includes('README.md') || r.includes('expected_greedy'))).toEqual([]);
    const output = stack.output();
    expect(output).toMatch(/model ready model=deepinfer-test\/stories260k .*origin=hf-download/);
    expect(output).toMatch(/tokenizer loaded .*origin=hf-cache/);
  });
});
