import fs from 'node:fs';
import path from 'node:path';
import { SERVICE_NAMES_IN_START_ORDER } from './service-order.js';
import { CONFIG_ERROR_EXIT_CODE, type DeepInferConfig } from '@deepinfer/config';
import type { Logger } from '@deepinfer/observability';
import { findOnPath, NATS_INSTALL_COMMAND, natsAnswers, natsServerArgs, parseNatsUrl } from './nats-endpoint.js';
import { serviceEnvironment } from './service-environment.js';
import { SupervisedProcess } from './supervised-process.js';

export interface StackOptions {
  config: DeepInferConfig;
  /** The fully resolved configuration, saved as YAML: every service reads it (DEEPINFER_CONFIG). */
  resolvedConfigFile: string;
  /** The repository root (apps/<service>/dist/main.js live under it). */
  repoRoot: string;
  logger: Logger;
  output?: NodeJS.WritableStream;
  /** Called when a process exits in a way restarting cannot fix (invalid configuration). */
  onFatal?: (name: string, code: number) => void;
}

export class LaunchError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'LaunchError';
  }
}

/**
 * The whole stack on one machine: nats-server (started only when none answers at the configured
 * URL) and the four services as supervised child processes with prefixed logs.
 */
export class StackLauncher {
  private readonly processes: SupervisedProcess[] = [];
  private natsProcess: SupervisedProcess | undefined;

  constructor(private readonly options: StackOptions) {}

  get services(): readonly SupervisedProcess[] {
    return this.processes;
  }

  async start(): Promise<void> {
    const { config, logger, repoRoot } = this.options;
    const entries = SERVICE_NAMES_IN_START_ORDER.map((name) => ({ name, main: path.join(repoRoot, 'apps', name, 'dist', 'main.js') }));
    const missing = entries.filter((e) => !fs.existsSync(e.main));
    if (missing.length > 0) {
      throw new LaunchError(`services are not built (${missing.map((m) => m.main).join(', ')}): run \`npm run build\` first`, 1);
    }
    await this.ensureNats();
    const env = serviceEnvironment(process.env, this.options.resolvedConfigFile);
    for (const entry of entries) {
      const proc = new SupervisedProcess(
        { name: entry.name, command: process.execPath, args: [entry.main], env, cwd: repoRoot, fatalExitCodes: [CONFIG_ERROR_EXIT_CODE] },
        { logger, output: this.options.output, onFatalExit: this.options.onFatal },
      );
      proc.start();
      this.processes.push(proc);
    }
    logger.info('stack started', { services: entries.map((e) => e.name).join(','), api: `http://${config.host}:${config.port}` });
  }

  private async ensureNats(): Promise<void> {
    const { config, logger } = this.options;
    const endpoint = parseNatsUrl(config.natsUrl);
    if (await natsAnswers(endpoint)) {
      logger.info('using the NATS server already running', { url: config.natsUrl });
      return;
    }
    const isLocal = ['127.0.0.1', 'localhost', '0.0.0.0', '::1'].includes(endpoint.host);
    if (!isLocal) {
      throw new LaunchError(`no NATS server answers at ${config.natsUrl}, and it is not a local address the launcher could start one on`, 1);
    }
    const binary = findOnPath('nats-server');
    if (!binary) {
      throw new LaunchError(`nats-server is not installed (not found on PATH) and none answers at ${config.natsUrl}. Install it with:\n  ${NATS_INSTALL_COMMAND}`, 127);
    }
    this.natsProcess = new SupervisedProcess(
      { name: 'nats', command: binary, args: natsServerArgs(endpoint, config.natsUser, config.natsPassword), discardOutput: !logger.isEnabled('debug') },
      { logger, output: this.options.output },
    );
    this.natsProcess.start();
    const deadline = Date.now() + 10_000;
    while (!(await natsAnswers(endpoint))) {
      if (Date.now() > deadline) throw new LaunchError(`started ${binary} but it does not answer at ${config.natsUrl}`, 1);
      await new Promise((r) => setTimeout(r, 100));
    }
    logger.info('started nats-server', { url: config.natsUrl, pid: this.natsProcess.pid });
  }

  /** Stops the services (in reverse start order), then the NATS server if we started it. */
  async stop(): Promise<void> {
    for (const p of this.processes) p.markStopping();
    this.natsProcess?.markStopping();
    await Promise.all([...this.processes].reverse().map((p) => p.stop()));
    await this.natsProcess?.stop();
  }
}
