import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hubCacheDir } from '@deepinfer/config';

/** The environment variables read here: huggingface_hub's own names, passed through by deployments (compose). */
export const HUB_ENV_VARS = [
  'HF_ENDPOINT', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_HOME', 'HF_HUB_CACHE', 'XDG_CACHE_HOME', 'HF_HUB_OFFLINE', 'HF_HUB_DISABLE_PROGRESS_BARS',
] as const;

/** huggingface_hub's default endpoint. */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/**
 * How to reach the Hub and where its cache is, read from the environment variables that
 * huggingface_hub reads, with its defaults, so that Python tools and DeepInfer share one cache
 * and one login.
 */
export interface HubSettings {
  /** Base URL without a trailing slash: $HF_ENDPOINT (a mirror, a local server), else huggingface.co. */
  readonly endpoint: string;
  /** Sent as `Authorization: Bearer`, to the endpoint only (never to the CDN it redirects to). */
  readonly token: string | undefined;
  /** Where the token came from, for error messages; the token itself is never printed. */
  readonly tokenSource: string | undefined;
  /** $HF_HUB_OFFLINE: never touch the network; only what is in the cache can be served. */
  readonly offline: boolean;
  /** $HF_HUB_DISABLE_PROGRESS_BARS: one log line per file instead of a bar, even on a terminal. */
  readonly progressBarsDisabled: boolean;
  /** The hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
  readonly cacheDir: string;
}

/**
 * Reads the settings. The token is $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN (its older name),
 * else the file `huggingface-cli login` writes ($HF_TOKEN_PATH, else $HF_HOME/token, else
 * ~/.cache/huggingface/token), the same order huggingface_hub uses. Empty variables are unset.
 */
export function hubSettingsFromEnv(env: NodeJS.ProcessEnv = process.env, homeDir: string = os.homedir()): HubSettings {
  const endpoint = (nonEmpty(env['HF_ENDPOINT']) ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
  let token = nonEmpty(env['HF_TOKEN']);
  let tokenSource = token ? 'HF_TOKEN' : undefined;
  if (!token) {
    token = nonEmpty(env['HUGGING_FACE_HUB_TOKEN']);
    tokenSource = token ? 'HUGGING_FACE_HUB_TOKEN' : undefined;
  }
  if (!token) {
    const hfHome = nonEmpty(env['HF_HOME']) ?? path.join(nonEmpty(env['XDG_CACHE_HOME']) ?? path.join(homeDir, '.cache'), 'huggingface');
    const tokenPath = nonEmpty(env['HF_TOKEN_PATH']) ?? path.join(hfHome, 'token');
    token = readTokenFile(tokenPath);
    tokenSource = token ? tokenPath : undefined;
  }
  return {
    endpoint,
    token,
    tokenSource,
    offline: isTrue(env['HF_HUB_OFFLINE']),
    progressBarsDisabled: isTrue(env['HF_HUB_DISABLE_PROGRESS_BARS']),
    cacheDir: hubCacheDir(env, homeDir),
  };
}

/** huggingface_hub's truth test for its boolean variables. */
function isTrue(value: string | undefined): boolean {
  return ['1', 'ON', 'YES', 'TRUE'].includes((value ?? '').trim().toUpperCase());
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function readTokenFile(file: string): string | undefined {
  try {
    return nonEmpty(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
