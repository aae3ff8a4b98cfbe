import { CONFIG_FIELDS, type ConfigField } from './config-fields.js';
import { ConfigError } from './config-error.js';
import type { ConfigKey } from './deepinfer-config.js';

export interface ParsedConfigArgs {
  configFile?: string;
  flags: Partial<Record<ConfigKey, unknown>>;
}

const BY_FLAG = new Map<string, ConfigField>(CONFIG_FIELDS.map((f) => [f.flag, f]));

/**
 * Parses settings flags the way `deepinfer` documents them (`--max-num-seqs 8`,
 * `--max-num-seqs=8`, `--enable-prefix-caching`, `--no-enable-prefix-caching`, `--config FILE`)
 * for the services' own command lines. Unknown flags are an error, so a typo never passes
 * silently. Values stay strings: loadConfig types and validates them.
 */
export function parseConfigArgs(argv: readonly string[]): ParsedConfigArgs {
  const flags: Partial<Record<ConfigKey, unknown>> = {};
  let configFile: string | undefined;
  const problems: { field: string; value: unknown; source: string; allowed: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const takeValue = () => inline ?? argv[++i];
    if (name === '--config') {
      configFile = takeValue();
      continue;
    }
    if (name.startsWith('--no-') && BY_FLAG.get('--' + name.slice(5))?.kind === 'boolean') {
      flags[BY_FLAG.get('--' + name.slice(5))!.key] = false;
      continue;
    }
    const field = BY_FLAG.get(name);
    if (!field) {
      problems.push({ field: arg, value: undefined, source: 'the command line', allowed: 'unknown flag (see deepinfer serve --help)' });
      continue;
    }
    if (field.kind === 'boolean' && inline === undefined && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))) {
      flags[field.key] = true;
      continue;
    }
    flags[field.key] = takeValue();
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { configFile, flags };
}
