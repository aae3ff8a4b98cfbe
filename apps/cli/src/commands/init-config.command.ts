import fs from 'node:fs';
import { Command } from 'commander';
import { saveConfig } from '@deepinfer/config';
import { addConfigOptions, resolveConfigOrExit } from '../config-options.js';

/** `deepinfer init-config FILE`: writes a commented YAML with every setting (defaults + flags). */
export function initConfigCommand(): Command {
  return addConfigOptions(
    new Command('init-config')
      .description('Write a YAML configuration file with every setting, commented (defaults, changed by any flags given)')
      .argument('<file>', 'where to write the YAML file')
      .option('--force', 'overwrite an existing file'),
  ).action((file: string, opts: Record<string, unknown>) => {
    if (fs.existsSync(file) && !opts['force']) {
      process.stderr.write(`deepinfer init-config: ${file} exists (use --force to overwrite)\n`);
      process.exit(1);
    }
    const { config } = resolveConfigOrExit(opts, 'init-config');
    saveConfig(config, file);
    process.stdout.write(`wrote ${file}\n`);
  });
}
