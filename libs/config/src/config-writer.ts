import fs from 'node:fs';
import { stringify } from 'yaml';
import { CONFIG_FIELDS } from './config-fields.js';
import type { DeepInferConfig } from './deepinfer-config.js';

/**
 * Renders a configuration as commented YAML with every setting (unset ones as `null`), so that
 * a saved file documents itself and `loadConfig` of it gives back the same configuration.
 */
export function renderConfigYaml(config: DeepInferConfig, header = 'DeepInfer configuration'): string {
  const lines = [`# ${header}`, '# Precedence: this file < DEEPINFER_* environment variables < command-line flags.', ''];
  for (const field of CONFIG_FIELDS) {
    const value = config[field.key];
    lines.push(`# ${field.description} (${field.allowed}; env ${field.envVar}, flag ${field.flag})`);
    lines.push(stringify({ [field.yamlKey]: value ?? null }).trimEnd());
  }
  return lines.join('\n') + '\n';
}

export function saveConfig(config: DeepInferConfig, path: string, header?: string): void {
  fs.writeFileSync(path, renderConfigYaml(config, header), { mode: 0o600 });
}

/** The configuration with secrets masked, for logs and admin endpoints. */
export function redactConfig(config: DeepInferConfig): Record<string, unknown> {
  return Object.fromEntries(CONFIG_FIELDS.map((f) => [f.yamlKey, f.secret && config[f.key] !== undefined ? '***' : (config[f.key] ?? null)]));
}
