import { Option, type Command } from 'commander';
import { CONFIG_ERROR_EXIT_CODE, CONFIG_FIELDS, ConfigError, loadConfig, type ConfigKey, type ResolvedConfig } from '@deepinfer/config';

/**
 * Adds every configuration setting as a flag (`--max-num-seqs <value>`, booleans as
 * `--enable-prefix-caching [bool]` / `--no-enable-prefix-caching`) plus `--config FILE`. No
 * flag has a default here: loadConfig fills defaults, so "not given" stays distinguishable
 * (hardware profiles only fill what the user did not set).
 */
export function addConfigOptions(command: Command): Command {
  command.option('--config <file>', 'YAML configuration file (env DEEPINFER_CONFIG)');
  for (const field of CONFIG_FIELDS) {
    const help = `${field.description} (${field.allowed}; env ${field.envVar})`;
    if (field.kind === 'boolean') {
      command.addOption(new Option(`${field.flag} [bool]`, help));
      command.addOption(new Option(`--no-${field.flag.slice(2)}`, `Turn ${field.yamlKey} off`).hideHelp());
    } else {
      command.addOption(new Option(`${field.flag} <value>`, help));
    }
  }
  return command;
}

/** The configuration from --config, DEEPINFER_* and the flags; exits 2 listing every problem. */
export function resolveConfigOrExit(opts: Record<string, unknown>, commandName: string): ResolvedConfig {
  const flags: Partial<Record<ConfigKey, unknown>> = {};
  for (const field of CONFIG_FIELDS) {
    if (opts[field.key] !== undefined) flags[field.key] = opts[field.key];
  }
  try {
    return loadConfig({ configFile: opts['config'] as string | undefined, flags });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`deepinfer ${commandName}: ${err.message}\n`);
      process.exit(CONFIG_ERROR_EXIT_CODE);
    }
    throw err;
  }
}
