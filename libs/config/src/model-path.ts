import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './config-error.js';
import { configsDir } from './configs-dir.js';

/** Where a model directory was found, for the start-up log. */
export type ModelPathOrigin = 'path' | 'repository' | 'hf-cache';

export interface ResolvedModelPath {
  /** Absolute path of the model directory (config.json, tokenizer files, weights). */
  readonly directory: string;
  readonly origin: ModelPathOrigin;
}

export interface ModelPathOptions {
  /** Base of relative paths; default process.cwd(). */
  cwd?: string;
  /** For HF_HUB_CACHE / HF_HOME / XDG_CACHE_HOME and DEEPINFER_CONFIGS_DIR; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The repository root, second base of relative paths; default the parent of configs/. */
  repoRoot?: string;
  /** For `~/.cache`; default os.homedir(). */
  homeDir?: string;
}

/** `org/name`: the shape of a Hugging Face Hub repository id. */
const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/**
 * Resolves the `model` setting to a directory, in this order:
 *   1. a path (absolute, or relative to the working directory);
 *   2. a relative path against the repository root, so the bundled default
 *      (`models/stories260k`) works whatever directory a service is started from;
 *   3. a Hub id (`org/name`) in the local Hugging Face cache, laid out by huggingface_hub as
 *      `<hub>/models--org--name/snapshots/<commit>/`, the commit named by `refs/main` (else the
 *      newest snapshot); `<hub>` is $HF_HUB_CACHE, else $HF_HOME/hub, else
 *      $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
 * Nothing is downloaded here. Throws ConfigError (field `model`, exit status 2: retrying cannot
 * help) listing every place it looked.
 */
export function resolveModelPath(model: string, options: ModelPathOptions = {}): ResolvedModelPath {
  const env = options.env ?? process.env;
  const searched: string[] = [];
  const direct = path.resolve(options.cwd ?? process.cwd(), model);
  searched.push(direct);
  if (isDirectory(direct)) return { directory: direct, origin: 'path' };

  if (!path.isAbsolute(model)) {
    const root = options.repoRoot ?? repositoryRoot(env);
    if (root !== undefined) {
      const inRepo = path.resolve(root, model);
      if (!searched.includes(inRepo)) searched.push(inRepo);
      if (isDirectory(inRepo)) return { directory: inRepo, origin: 'repository' };
    }
  }

  if (HUB_ID.test(model)) {
    const repoDir = path.join(hubCacheDir(env, options.homeDir ?? os.homedir()), `models--${model.replace('/', '--')}`);
    searched.push(path.join(repoDir, 'snapshots', '<commit>'));
    const snapshot = cachedSnapshot(repoDir);
    if (snapshot !== undefined) return { directory: snapshot, origin: 'hf-cache' };
  }

  throw new ConfigError([
    {
      field: 'model',
      value: model,
      source: 'configuration',
      allowed: `a model directory or a Hugging Face Hub id (org/name) already in the local cache; looked in ${searched.join(', ')}` +
        (HUB_ID.test(model) ? ` (download it with: huggingface-cli download ${model})` : ''),
    },
  ]);
}

/**
 * The name clients send for the model when served_model_name is unset, the same in every
 * service: a Hub id as given (`meta-llama/Llama-3.1-8B-Instruct`, as vLLM serves it), else the
 * model directory's last component (`models/stories260k` → `stories260k`).
 */
export function defaultServedModelName(model: string, options: ModelPathOptions = {}): string {
  const asDirectory = path.basename(path.resolve(options.cwd ?? process.cwd(), model));
  try {
    return resolveModelPath(model, options).origin === 'hf-cache' ? model : asDirectory;
  } catch {
    // Not on disk yet (a Hub id to download), or nowhere: name it as the user wrote it.
    return HUB_ID.test(model) ? model : asDirectory;
  }
}

/** The Hugging Face hub cache directory, as huggingface_hub computes it. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env, homeDir: string = os.homedir()): string {
  if (env['HF_HUB_CACHE']) return env['HF_HUB_CACHE'];
  if (env['HF_HOME']) return path.join(env['HF_HOME'], 'hub');
  const cacheHome = env['XDG_CACHE_HOME'] || path.join(homeDir, '.cache');
  return path.join(cacheHome, 'huggingface', 'hub');
}

function cachedSnapshot(repoDir: string): string | undefined {
  const snapshots = path.join(repoDir, 'snapshots');
  try {
    const commit = fs.readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8').trim();
    if (commit && isDirectory(path.join(snapshots, commit))) return path.join(snapshots, commit);
  } catch {
    // no refs/main (a snapshot copied by hand): fall back to the newest snapshot
  }
  let newest: { dir: string; mtimeMs: number } | undefined;
  for (const name of safeReaddir(snapshots)) {
    const dir = path.join(snapshots, name);
    const stat = safeStat(dir);
    if (stat?.isDirectory() && (newest === undefined || stat.mtimeMs > newest.mtimeMs)) newest = { dir, mtimeMs: stat.mtimeMs };
  }
  return newest?.dir;
}

function repositoryRoot(env: NodeJS.ProcessEnv): string | undefined {
  try {
    return path.dirname(configsDir(env));
  } catch {
    return undefined;
  }
}

function isDirectory(p: string): boolean {
  return safeStat(p)?.isDirectory() ?? false;
}

function safeStat(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function safeReaddir(p: string): string[] {
  try {
    return fs.readdirSync(p);
  } catch {
    return [];
  }
}
