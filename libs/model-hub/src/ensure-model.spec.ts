import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, resolveModelPath } from '@deepinfer/config';
import { createLogger } from '@deepinfer/observability';
import { ensureModel, type EnsureModelOptions } from './ensure-model.js';
import { ModelDownloadError } from './model-errors.js';
import { FakeHub, type FakeHubOptions, type FakeRepoFile } from './test-support/fake-hub.js';

const MODEL = 'test-org/tiny-model';
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const SHARD_1 = 'model-00001-of-00002.safetensors';
const SHARD_2 = 'model-00002-of-00002.safetensors';
const shard1 = crypto.randomBytes(300_000);
const shard2 = crypto.randomBytes(200_000);

/** A sharded repository with files serving must not download (README, .bin, a consolidated checkpoint, original/). */
const REPO_FILES: FakeRepoFile[] = [
  { path: 'config.json', content: JSON.stringify({ architectures: ['LlamaForCausalLM'], max_position_embeddings: 512 }) },
  { path: 'generation_config.json', content: '{"eos_token_id": 2}' },
  { path: 'tokenizer.json', content: '{"model": {"type": "BPE"}}' },
  { path: 'tokenizer_config.json', content: '{"bos_token": "<s>"}' },
  { path: 'model.safetensors.index.json', content: JSON.stringify({ metadata: {}, weight_map: { 'a.weight': SHARD_1, 'b.weight': SHARD_2, 'c.weight': SHARD_1 } }) },
  { path: SHARD_1, content: shard1 },
  { path: SHARD_2, content: shard2 },
  { path: 'consolidated.safetensors', content: crypto.randomBytes(1000) },
  { path: 'pytorch_model.bin', content: crypto.randomBytes(1000) },
  { path: 'original/params.json', content: '{}' },
  { path: 'README.md', content: '# tiny' },
];
const SERVED = ['config.json', 'generation_config.json', 'model.safetensors.index.json', SHARD_1, SHARD_2, 'tokenizer.json', 'tokenizer_config.json'].sort();

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-model-hub-'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

let hub: FakeHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

const startHub = async (overrides: Partial<FakeHubOptions> = {}) => (hub = await FakeHub.start({ repoId: MODEL, commit: COMMIT, files: REPO_FILES, ...overrides }));

/** A fresh HF_HOME, and options that read nothing from this machine's environment or home. */
function setup(env: NodeJS.ProcessEnv = {}) {
  const home = fs.mkdtempSync(path.join(tmpRoot, 'home-'));
  const logLines: string[] = [];
  const options: EnsureModelOptions = {
    env: { HF_HOME: path.join(home, 'hf'), ...env },
    homeDir: home,
    cwd: home,
    repoRoot: home,
    progress: 'log',
    logger: createLogger({ name: 'test', level: 'info', format: 'text', sink: (l) => logLines.push(l) }),
    retryDelayMs: 10,
  };
  const repoDir = path.join(home, 'hf', 'hub', 'models--test-org--tiny-model');
  return { home, options, repoDir, snapshotDir: path.join(repoDir, 'snapshots', COMMIT), logLines };
}

const failureOf = async (promise: Promise<unknown>): Promise<Error> => {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
};

const cdnGets = (file: string) => hub!.requests.filter((r) => r.server === 'cdn' && r.method === 'GET' && r.path.startsWith(`/lfs/${hub!.etagOf(file)}`));

describe('ensureModel with a Hub id', () => {
  it('downloads only the serving files into the exact huggingface_hub cache layout, which resolveModelPath then finds', async () => {
    await startHub();
    const { options, repoDir, snapshotDir, logLines } = setup({ HF_ENDPOINT: hub!.endpoint });

    const result = await ensureModel(MODEL, options);

    expect(result).toEqual({ directory: snapshotDir, origin: 'hf-download' });
    expect(fs.readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect(fs.readdirSync(snapshotDir).sort()).toEqual(SERVED);
    for (const file of SERVED) {
      const link = path.join(snapshotDir, file);
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      expect(fs.readlinkSync(link)).toBe(`../../blobs/${hub!.etagOf(file)}`);
      expect(fs.readFileSync(link).equals(hub!.contentOf(file))).toBe(true);
    }
    expect(fs.readdirSync(path.join(repoDir, 'blobs')).sort()).toEqual(SERVED.map((f) => hub!.etagOf(f)).sort());
    expect(fs.readdirSync(path.join(path.dirname(repoDir), '.locks', 'models--test-org--tiny-model'))).toEqual([]);
    expect(resolveModelPath(MODEL, options)).toEqual({ directory: snapshotDir, origin: 'hf-cache' });

    // Nothing that is not served was asked for, and each served file's bytes came once.
    const asked = hub!.requests.map((r) => decodeURIComponent(r.path));
    for (const unused of ['README.md', 'pytorch_model.bin', 'consolidated.safetensors', 'original/params.json']) {
      expect(asked.filter((p) => p.includes(unused) || (unused.includes('.') && p.includes(hub!.etagOf(unused))))).toEqual([]);
    }
    expect(cdnGets(SHARD_1)).toHaveLength(1);
    expect(logLines.filter((l) => l.includes('model file ready'))).toHaveLength(SERVED.length);
    expect(logLines.find((l) => l.includes(`file=${SHARD_1}`))).toMatch(/source=downloaded/);
  });

  it('answers a second call from the cache without a request', async () => {
    await startHub();
    const { options, snapshotDir } = setup({ HF_ENDPOINT: hub!.endpoint });
    await ensureModel(MODEL, options);
    const numRequests = hub!.requests.length;

    expect(await ensureModel(MODEL, options)).toEqual({ directory: snapshotDir, origin: 'hf-cache' });
    expect(hub!.requests.length).toBe(numRequests);
  });

  it('resumes a file the server cut short with a Range request, on the next call; the blob is byte-identical', async () => {
    await startHub({ cutShortBytes: { [SHARD_1]: 100_000 } });
    const { options, repoDir, snapshotDir } = setup({ HF_ENDPOINT: hub!.endpoint });

    const first = await failureOf(ensureModel(MODEL, { ...options, maxAttempts: 1 }));
    expect(first).toBeInstanceOf(ModelDownloadError);
    const incomplete = path.join(repoDir, 'blobs', `${hub!.etagOf(SHARD_1)}.incomplete`);
    expect(fs.statSync(incomplete).size).toBe(100_000);
    expect(fs.existsSync(snapshotDir)).toBe(false); // no half-made snapshot for a reader to take

    await ensureModel(MODEL, options);
    expect(cdnGets(SHARD_1).map((r) => r.range)).toEqual([undefined, 'bytes=100000-']);
    expect(fs.readFileSync(path.join(repoDir, 'blobs', hub!.etagOf(SHARD_1))).equals(shard1)).toBe(true);
    expect(fs.existsSync(incomplete)).toBe(false);
  });

  it('retries a cut transfer within the call, resuming with Range', async () => {
    await startHub({ cutShortBytes: { [SHARD_2]: 50_000 } });
    const { options, snapshotDir, logLines } = setup({ HF_ENDPOINT: hub!.endpoint });

    await ensureModel(MODEL, options);
    expect(cdnGets(SHARD_2).map((r) => r.range)).toEqual([undefined, 'bytes=50000-']);
    expect(fs.readFileSync(path.join(snapshotDir, SHARD_2)).equals(shard2)).toBe(true);
    expect(logLines.some((l) => l.includes('download interrupted; resuming') && l.includes(SHARD_2))).toBe(true);
  });

  it('sends HF_TOKEN to the Hub as a Bearer token, and not to the CDN', async () => {
    await startHub({ token: 'hf_secret' });
    const { options } = setup({ HF_ENDPOINT: hub!.endpoint, HF_TOKEN: 'hf_secret' });

    await ensureModel(MODEL, options);
    const hubRequests = hub!.requests.filter((r) => r.server === 'hub');
    expect(hubRequests.length).toBeGreaterThan(0);
    expect(hubRequests.every((r) => r.authorization === 'Bearer hf_secret')).toBe(true);
    expect(hub!.requests.filter((r) => r.server === 'cdn').every((r) => r.authorization === undefined)).toBe(true);
  });

  it('a gated repository without a token: a ConfigError saying HF_TOKEN must be set', async () => {
    await startHub({ token: 'hf_secret' });
    const { options } = setup({ HF_ENDPOINT: hub!.endpoint });

    const err = await failureOf(ensureModel(MODEL, options));
    expect(err).toBeInstanceOf(ConfigError);
    const problem = (err as ConfigError).problems[0]!;
    expect(problem.field).toBe('model');
    expect(problem.allowed).toMatch(/gated/);
    expect(problem.allowed).toMatch(/set HF_TOKEN/);
    expect(problem.allowed).toContain('no token is set');
  });

  it('a token without access: says which token was refused', async () => {
    await startHub({ token: 'hf_secret' });
    const { options } = setup({ HF_ENDPOINT: hub!.endpoint, HUGGING_FACE_HUB_TOKEN: 'hf_other' });

    const err = await failureOf(ensureModel(MODEL, options));
    expect((err as ConfigError).problems[0]!.allowed).toContain('the token from HUGGING_FACE_HUB_TOKEN was sent and refused');
  });

  it('an unknown repository: 401 without a token names HF_TOKEN, 404 with one says there is no such repository', async () => {
    await startHub();
    const anonymous = await failureOf(ensureModel('test-org/no-such-model', setup({ HF_ENDPOINT: hub!.endpoint }).options));
    expect(anonymous).toBeInstanceOf(ConfigError);
    expect(anonymous.message).toMatch(/no such repository, or it is private or gated; HF_TOKEN must be set/);

    const authenticated = await failureOf(ensureModel('test-org/no-such-model', setup({ HF_ENDPOINT: hub!.endpoint, HF_TOKEN: 'x' }).options));
    expect(authenticated).toBeInstanceOf(ConfigError);
    expect(authenticated.message).toContain('no such repository or revision');
    expect(authenticated.message).toContain(hub!.endpoint);
  });

  it('an unreachable endpoint: names the endpoint, the model, the cache and the alternatives', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const endpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const { options, repoDir } = setup({ HF_ENDPOINT: endpoint });

    const err = await failureOf(ensureModel(MODEL, options));
    expect(err).toBeInstanceOf(ModelDownloadError);
    expect(err.message).toContain(`cannot reach the Hugging Face Hub at ${endpoint} to download ${MODEL}`);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).toContain(path.join(repoDir, 'snapshots'));
    expect(err.message).toContain('HF_HUB_OFFLINE=1');
    expect(err.message).toContain('local model directory');
  });

  it('HF_HUB_OFFLINE=1: no request; the cache if it has the model, else a ConfigError saying so', async () => {
    await startHub();
    const { options, repoDir, snapshotDir } = setup({ HF_ENDPOINT: hub!.endpoint, HF_HUB_OFFLINE: '1' });

    const err = await failureOf(ensureModel(MODEL, options));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('HF_HUB_OFFLINE is set');
    expect(err.message).toContain(path.join(repoDir, 'snapshots'));
    expect(hub!.requests).toEqual([]);

    await ensureModel(MODEL, { ...options, env: { ...options.env, HF_HUB_OFFLINE: '' } });
    const numRequests = hub!.requests.length;
    expect(await ensureModel(MODEL, options)).toEqual({ directory: snapshotDir, origin: 'hf-cache' });
    expect(hub!.requests.length).toBe(numRequests);
  });

  it('two concurrent calls on one cache: one download per file, one correct result', async () => {
    await startHub({ cdnPauseMs: 150 });
    const { options, repoDir, snapshotDir, logLines } = setup({ HF_ENDPOINT: hub!.endpoint });

    const [a, b] = await Promise.all([ensureModel(MODEL, { ...options, lockPollMs: 20 }), ensureModel(MODEL, { ...options, lockPollMs: 20 })]);
    expect(a.directory).toBe(snapshotDir);
    expect(b.directory).toBe(snapshotDir);
    for (const file of [SHARD_1, SHARD_2]) expect(cdnGets(file)).toHaveLength(1);
    for (const file of SERVED) expect(fs.readFileSync(path.join(snapshotDir, file)).equals(hub!.contentOf(file))).toBe(true);
    expect(fs.readdirSync(path.join(repoDir, 'blobs')).filter((f) => f.endsWith('.incomplete'))).toEqual([]);
    // The shards took 150 ms each: the second call found them locked and waited for the first.
    expect(logLines.filter((l) => l.includes('model file ready') && l.includes('source=other-process')).length).toBeGreaterThan(0);
  });

  it('completes a cached snapshot that lacks a shard, reusing the blobs it has', async () => {
    await startHub();
    const { options, repoDir, snapshotDir } = setup({ HF_ENDPOINT: hub!.endpoint });
    await ensureModel(MODEL, options);
    fs.rmSync(path.join(snapshotDir, SHARD_2));
    fs.rmSync(path.join(repoDir, 'blobs', hub!.etagOf(SHARD_2)));

    expect(await ensureModel(MODEL, options)).toEqual({ directory: snapshotDir, origin: 'hf-download' });
    expect(fs.readFileSync(path.join(snapshotDir, SHARD_2)).equals(shard2)).toBe(true);
    expect(cdnGets(SHARD_1)).toHaveLength(1);
    expect(cdnGets(SHARD_2)).toHaveLength(2);
  });

  it('refuses a repository without safetensors, naming what it has', async () => {
    await startHub({ files: [{ path: 'config.json', content: '{}' }, { path: 'pytorch_model.bin', content: 'x' }] });
    const { options } = setup({ HF_ENDPOINT: hub!.endpoint });

    const err = await failureOf(ensureModel(MODEL, options));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('has no *.safetensors (it has only pytorch_model.bin)');
    expect(hub!.requests.filter((r) => r.path.includes('/resolve/'))).toEqual([]);
  });

  it('a local directory is returned as resolveModelPath returns it, without the network', async () => {
    const { options, home } = setup({ HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_OFFLINE: '0' });
    fs.mkdirSync(path.join(home, 'test-org', 'tiny-model'), { recursive: true });
    expect(await ensureModel(MODEL, options)).toEqual({ directory: path.join(home, 'test-org', 'tiny-model'), origin: 'path' });
    const missing = await failureOf(ensureModel('./no/such/dir', options));
    expect(missing).toBeInstanceOf(ConfigError);
  });
});
