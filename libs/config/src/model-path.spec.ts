import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './config-error.js';
import { defaultServedModelName, hubCacheDir, resolveModelPath } from './model-path.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-model-path-'));
const mkdir = (...parts: string[]) => {
  const dir = path.join(tmp, ...parts);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
};
const problemOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems[0]!;
  }
  throw new Error('expected a ConfigError');
};

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('resolveModelPath', () => {
  const cwd = mkdir('cwd');
  const repoRoot = mkdir('repo');
  const inCwd = mkdir('cwd', 'models', 'local');
  const inRepo = mkdir('repo', 'models', 'bundled');

  it('takes an absolute path or a path relative to the working directory first', () => {
    expect(resolveModelPath(inCwd, { cwd: '/', repoRoot })).toEqual({ directory: inCwd, origin: 'path' });
    expect(resolveModelPath('models/local', { cwd, repoRoot })).toEqual({ directory: inCwd, origin: 'path' });
  });

  it('falls back to the repository root for a relative path, so the bundled default works from anywhere', () => {
    expect(resolveModelPath('models/bundled', { cwd, repoRoot })).toEqual({ directory: inRepo, origin: 'repository' });
  });

  it('finds the bundled model from any directory with the real repository root', () => {
    const { directory } = resolveModelPath('models/stories260k', { cwd: os.tmpdir() });
    expect(fs.existsSync(path.join(directory, 'tokenizer.json'))).toBe(true);
  });

  it('resolves a Hub id through the HF cache: refs/main, else the newest snapshot', () => {
    const hub = mkdir('hf-home', 'hub');
    const repo = path.join(hub, 'models--meta-llama--Llama-3.1-8B-Instruct');
    const pinned = mkdir('hf-home', 'hub', 'models--meta-llama--Llama-3.1-8B-Instruct', 'snapshots', 'abc123');
    mkdir('hf-home', 'hub', 'models--meta-llama--Llama-3.1-8B-Instruct', 'snapshots', 'zzz999');
    mkdir('hf-home', 'hub', 'models--meta-llama--Llama-3.1-8B-Instruct', 'refs');
    fs.writeFileSync(path.join(repo, 'refs', 'main'), 'abc123\n');
    const env = { HF_HOME: path.join(tmp, 'hf-home') };
    expect(resolveModelPath('meta-llama/Llama-3.1-8B-Instruct', { cwd, repoRoot, env })).toEqual({ directory: pinned, origin: 'hf-cache' });

    fs.rmSync(path.join(repo, 'refs'), { recursive: true });
    const newer = path.join(repo, 'snapshots', 'zzz999');
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(newer, later, later);
    expect(resolveModelPath('meta-llama/Llama-3.1-8B-Instruct', { cwd, repoRoot, env }).directory).toBe(newer);
  });

  it('locates the hub cache as huggingface_hub does', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/x/hub', HF_HOME: '/y' }, '/home/u')).toBe('/x/hub');
    expect(hubCacheDir({ HF_HOME: '/y' }, '/home/u')).toBe('/y/hub');
    expect(hubCacheDir({ XDG_CACHE_HOME: '/c' }, '/home/u')).toBe('/c/huggingface/hub');
    expect(hubCacheDir({}, '/home/u')).toBe('/home/u/.cache/huggingface/hub');
  });

  it('refuses a missing model as a configuration problem naming every place it looked', () => {
    const problem = problemOf(() => resolveModelPath('nobody/nothing', { cwd, repoRoot, env: { HF_HOME: path.join(tmp, 'hf-home') } }));
    expect(problem.field).toBe('model');
    expect(problem.allowed).toContain(path.join(cwd, 'nobody/nothing'));
    expect(problem.allowed).toContain(path.join(repoRoot, 'nobody/nothing'));
    expect(problem.allowed).toContain('models--nobody--nothing');
    expect(problem.allowed).toContain('huggingface-cli download nobody/nothing');
    expect(problemOf(() => resolveModelPath('/no/such/dir', { cwd, repoRoot })).allowed).not.toContain('huggingface-cli');
  });
});

describe('defaultServedModelName', () => {
  const cwd = mkdir('names', 'cwd');
  const repoRoot = mkdir('names', 'repo');
  mkdir('names', 'cwd', 'models', 'mine');
  mkdir('names', 'hf', 'hub', 'models--Qwen--Qwen3-8B', 'snapshots', 'c0ffee');
  const env = { HF_HOME: path.join(tmp, 'names', 'hf') };

  it('names a directory by its last component, a Hub id as given (cached or still to download)', () => {
    expect(defaultServedModelName('models/mine', { cwd, repoRoot, env })).toBe('mine');
    expect(defaultServedModelName(path.join(cwd, 'models', 'mine') + '/', { cwd, repoRoot, env })).toBe('mine');
    expect(defaultServedModelName('Qwen/Qwen3-8B', { cwd, repoRoot, env })).toBe('Qwen/Qwen3-8B');
    expect(defaultServedModelName('meta-llama/Llama-3.1-8B-Instruct', { cwd, repoRoot, env })).toBe('meta-llama/Llama-3.1-8B-Instruct');
  });
});
