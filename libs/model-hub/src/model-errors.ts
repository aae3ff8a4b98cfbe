import { ConfigError } from '@deepinfer/config';
import { describeNetworkFailure, HubHttpError, HubNetworkError } from './hub-client.js';
import type { HubSettings } from './hub-settings.js';

/**
 * A download failed in a way that retrying can fix (the Hub unreachable, a connection cut more
 * often than the attempts allow, a server error): services exit 1 and are restarted, and the
 * next start resumes what is on disk. A model that cannot be served at all (no such repository,
 * no access, no safetensors, offline and not cached) is a ConfigError instead (exit 2).
 */
export class ModelDownloadError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ModelDownloadError';
  }
}

/** What the error messages name. */
export interface ModelErrorContext {
  readonly model: string;
  readonly settings: HubSettings;
  /** The cache folder where the snapshot was looked for (`<hub>/models--org--name/snapshots/<commit>`). */
  readonly cachedAt: string;
}

/** A ConfigError on the `model` setting, like resolveModelPath's. */
export function modelConfigError(model: string, allowed: string): ConfigError {
  return new ConfigError([{ field: 'model', value: model, source: 'configuration', allowed }]);
}

export function offlineNotCachedError(ctx: ModelErrorContext): ConfigError {
  return modelConfigError(
    ctx.model,
    `HF_HUB_OFFLINE is set, so nothing is downloaded, and ${ctx.model} is not in the local Hugging Face cache (looked in ${ctx.cachedAt}); ` +
      `download it into that cache where the Hub is reachable (huggingface-cli download ${ctx.model}), unset HF_HUB_OFFLINE, or give a local model directory`,
  );
}

export function noSafetensorsError(ctx: ModelErrorContext, otherWeightFiles: readonly string[]): ConfigError {
  const found = otherWeightFiles.length > 0 ? `it has only ${otherWeightFiles.slice(0, 4).join(', ')}${otherWeightFiles.length > 4 ? ', …' : ''}` : 'it has no weight files';
  return modelConfigError(
    ctx.model,
    `a repository with safetensors weights; ${ctx.model} on ${ctx.settings.endpoint} has no *.safetensors (${found}); ` +
      'PyTorch .bin/.pth checkpoints are not loaded (unpickling runs code); pick a repository that publishes safetensors',
  );
}

/** Turns a failure of the Hub calls into the error the user should see (see ModelDownloadError). */
export function explainHubFailure(err: unknown, ctx: ModelErrorContext): Error {
  if (err instanceof ConfigError || err instanceof ModelDownloadError) return err;
  const { model, settings } = ctx;
  const { endpoint } = settings;
  if (err instanceof HubNetworkError) {
    return new ModelDownloadError(
      `cannot reach the Hugging Face Hub at ${endpoint} to download ${model} (${describeNetworkFailure(err.cause)}); it is not in the local cache (looked in ${ctx.cachedAt}). ` +
        'Check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only what is cached, or give a local model directory',
      { cause: err },
    );
  }
  if (err instanceof HubHttpError) {
    const hub = err.hubMessage ? ` (the Hub says: ${err.hubMessage})` : '';
    const token = settings.tokenSource ? `the token from ${settings.tokenSource} was sent and refused` : 'no token is set';
    if (err.errorCode === 'GatedRepo') {
      return modelConfigError(model, `${model} on ${endpoint} is gated: accept its conditions at ${endpoint}/${model}, then set HF_TOKEN to a token of an account with access (${token})${hub}`);
    }
    if (err.status === 401 || err.status === 403) {
      const notFound = err.errorCode === 'RepoNotFound' ? 'no such repository, or it is private or gated' : `access refused (HTTP ${err.status})`;
      return modelConfigError(model, `${model} on ${endpoint}: ${notFound}; HF_TOKEN must be set to a token with access to the repository (${token})${hub}`);
    }
    if (err.status === 404) {
      const what = err.errorCode === 'RevisionNotFound' ? 'no revision main in that repository' : err.errorCode === 'EntryNotFound' ? 'a file it lists is missing' : 'no such repository or revision';
      return modelConfigError(model, `a model repository on ${endpoint}: ${what} (check the id as written on its Hub page: org/name)${hub}`);
    }
  }
  return new ModelDownloadError(
    `downloading ${model} from ${endpoint} failed: ${(err as Error)?.message ?? String(err)}; what was downloaded stays in the cache and the next attempt resumes it`,
    { cause: err },
  );
}
