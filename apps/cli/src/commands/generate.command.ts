import { Command } from 'commander';
import { addConfigOptions, resolveConfigOrExit } from '../config-options.js';

/**
 * `deepinfer generate`: runs the engine in-process on a model directory and streams the
 * continuation. The native engine lands with its own issue; until then this says so clearly.
 */
export function generateCommand(): Command {
  return addConfigOptions(
    new Command('generate')
      .description('Generate text from a prompt with the engine in this process (no services, no NATS)')
      .option('--prompt <text>', 'the prompt', '')
      .option('--max-tokens <n>', 'tokens to generate', '64')
      .option('--temperature <t>', 'sampling temperature; 0 is greedy', '0'),
  ).action(async (opts: Record<string, unknown>) => {
    resolveConfigOrExit(opts, 'generate');
    let engine: unknown;
    try {
      engine = await import('@deepinfer/engine' as string);
    } catch {
      engine = undefined;
    }
    if (!engine) {
      process.stderr.write('deepinfer generate: the native engine is not built (libs/engine is missing); build it with `npm run build`\n');
      process.exit(1);
    }
  });
}
