import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { applyHardwareProfile, CONFIG_ERROR_EXIT_CODE, ConfigError, configsDir, saveConfig } from '@deepinfer/config';
import { detectGpus, visibleGpus } from '@deepinfer/gpu';
import { LaunchError, StackLauncher } from '@deepinfer/launcher';
import { ensureModel, ModelDownloadError } from '@deepinfer/model-hub';
import { createLogger } from '@deepinfer/observability';
import { addConfigOptions, resolveConfigOrExit } from '../config-options.js';

/**
 * `deepinfer serve`: the launcher for a bare machine. Resolves the configuration once (flags,
 * environment, file, then the GPU's hardware profile for what is still unset), makes sure the
 * model is on disk (downloading a Hub id into the Hugging Face cache), hands the configuration to
 * every service as one YAML file, starts nats-server if none answers, then the four services
 * (data_parallel_size scheduler + executor pairs; `role` picks the frontend or the replicas only).
 */
export function serveCommand(): Command {
  return addConfigOptions(new Command('serve').description('Start nats-server (if needed) and the four services, and serve the OpenAI-compatible API')).action(
    async (opts: Record<string, unknown>) => {
      const resolved = resolveConfigOrExit(opts, 'serve');
      const { config } = resolved;
      const logger = createLogger({ name: 'launcher', level: config.logLevel, format: config.logFormat });

      const detection = await detectGpus();
      try {
        const profile = applyHardwareProfile(resolved, detection);
        if (profile) {
          logger.info('applied hardware profile', { profile: profile.profile.id, gpu: detection.available ? detection.gpus[0]?.name : undefined, set: profile.applied });
        } else {
          logger.info('no hardware profile applies', { gpu: detection.available ? detection.gpus[0]?.name : `none (${detection.reason})` });
        }
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(`deepinfer serve: hardware profile: ${err.message}\n`);
          process.exit(CONFIG_ERROR_EXIT_CODE);
        }
        throw err;
      }

      // The model before the services: a Hub id not yet in the cache is downloaded here, with a
      // progress bar on this terminal, so that the tokenizer and the executor then find it in the
      // cache instead of each downloading it behind prefixed log lines.
      try {
        const model = await ensureModel(config.model, { logger });
        logger.info('model ready', { model: config.model, directory: model.directory, origin: model.origin });
      } catch (err) {
        if (err instanceof ConfigError || err instanceof ModelDownloadError) {
          process.stderr.write(`deepinfer serve: ${err.message}\n`);
          process.exit(err instanceof ConfigError ? CONFIG_ERROR_EXIT_CODE : 1);
        }
        throw err;
      }

      const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-'));
      const resolvedConfigFile = path.join(runDir, 'config.yaml');
      saveConfig(config, resolvedConfigFile, 'Resolved by deepinfer serve for its services; do not edit');

      let stopping: Promise<void> | undefined;
      const launcher = new StackLauncher({
        config,
        resolvedConfigFile,
        repoRoot: path.dirname(configsDir()),
        logger,
        onFatal: (name, code) => void shutdown(`${name} exited with status ${code}`, code),
        // One GPU per replica's executor (data_parallel_size), named by UUID when nvidia-smi has one.
        gpus: detection.available ? visibleGpus(detection.gpus, process.env['CUDA_VISIBLE_DEVICES']).map((g) => ({ id: g.uuid ?? String(g.index) })) : [],
      });
      const shutdown = (reason: string, exitCode = 0) =>
        (stopping ??= (async () => {
          logger.info('stopping the stack', { reason });
          await launcher.stop();
          fs.rmSync(runDir, { recursive: true, force: true });
          process.exit(exitCode);
        })());
      process.once('SIGINT', () => void shutdown('SIGINT'));
      process.once('SIGTERM', () => void shutdown('SIGTERM'));

      try {
        await launcher.start();
      } catch (err) {
        await launcher.stop();
        fs.rmSync(runDir, { recursive: true, force: true });
        if (err instanceof LaunchError) {
          process.stderr.write(`deepinfer serve: ${err.message}\n`);
          process.exit(err.exitCode);
        }
        throw err;
      }
    },
  );
}
