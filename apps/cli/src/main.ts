import { Command } from 'commander';
import { generateCommand } from './commands/generate.command.js';
import { gpuInfoCommand } from './commands/gpu-info.command.js';
import { initConfigCommand } from './commands/init-config.command.js';
import { serveCommand } from './commands/serve.command.js';

const program = new Command('deepinfer')
  .description('DeepInfer: an OpenAI-compatible LLM inference server')
  .showHelpAfterError()
  // Usage errors (unknown flag, missing argument) exit 2, like an invalid configuration.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

for (const command of [serveCommand(), generateCommand(), gpuInfoCommand(), initConfigCommand()]) {
  program.addCommand(command.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2)));
}

await program.parseAsync(process.argv);
