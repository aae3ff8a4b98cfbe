import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import type { ServiceName } from '@deepinfer/contracts';
import { CONFIG_ERROR_EXIT_CODE, REPLICA_ID_ENV_VAR, saveConfig, type DeepInferConfig } from '@deepinfer/config';
import type { Logger } from '@deepinfer/observability';
import { findOnPath, NATS_INSTALL_COMMAND, natsAnswers, natsServerArgs, parseNatsUrl } from './nats-endpoint.js';
import { planReplicas, ReplicaPlanError, type ReplicaSpec, type VisibleGpu } from './replica-plan.js';
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
  /** GPUs visible to the launcher (one per replica on CUDA); none by default. */
  gpus?: readonly VisibleGpu[];
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

  /** The replicas this launcher starts (empty for role frontend). */
  replicas: readonly ReplicaSpec[] = [];

  /**
   * Starts what `role` asks for: `all` = NATS (if none answers), data_parallel_size replicas
   * (executor + scheduler pairs), the tokenizer and the api; `frontend` = NATS (if needed), the
   * tokenizer and the api; `replica` = the replicas only, joining the NATS at nats_url.
   */
  async start(): Promise<void> {
    const { config, logger, repoRoot } = this.options;
    const role = config.role;
    const mainOf = (name: ServiceName) => path.join(repoRoot, 'apps', name, 'dist', 'main.js');
    const needed: ServiceName[] = role === 'all' ? ['executor', 'scheduler', 'tokenizer', 'api'] : role === 'frontend' ? ['tokenizer', 'api'] : ['executor', 'scheduler'];
    const missing = needed.map(mainOf).filter((main) => !fs.existsSync(main));
    if (missing.length > 0) {
      throw new LaunchError(`services are not built (${missing.join(', ')}): run \`npm run build\` first`, 1);
    }
    if (role !== 'frontend') {
      try {
        this.replicas = planReplicas({ config, gpus: this.options.gpus ?? [], cpuCount: os.availableParallelism(), hostname: os.hostname(), replicaIdBase: process.env[REPLICA_ID_ENV_VAR] });
      } catch (err) {
        if (err instanceof ReplicaPlanError) throw new LaunchError(err.message, CONFIG_ERROR_EXIT_CODE);
        throw err;
      }
    }
    await this.ensureNats(role !== 'replica');
    const env = serviceEnvironment(process.env, this.options.resolvedConfigFile);
    const start = (name: string, service: ServiceName, processEnv: NodeJS.ProcessEnv) => {
      const proc = new SupervisedProcess(
        { name, command: process.execPath, args: [mainOf(service)], env: processEnv, cwd: repoRoot, fatalExitCodes: [CONFIG_ERROR_EXIT_CODE] },
        { logger, output: this.options.output, onFatalExit: this.options.onFatal },
      );
      proc.start();
      this.processes.push(proc);
    };
    // The executors first: loading the model is the slowest step (SERVICE_NAMES_IN_START_ORDER).
    const single = this.replicas.length === 1;
    for (const replica of this.replicas) {
      const replicaEnv = { ...env, [REPLICA_ID_ENV_VAR]: replica.replicaId, DEEPINFER_CONFIG: this.replicaConfigFile(replica) };
      const executorEnv = replica.cudaVisibleDevices === undefined ? replicaEnv : { ...replicaEnv, CUDA_VISIBLE_DEVICES: replica.cudaVisibleDevices };
      start(single ? 'executor' : `executor.${replica.replicaId}`, 'executor', executorEnv);
      start(single ? 'scheduler' : `scheduler.${replica.replicaId}`, 'scheduler', replicaEnv);
    }
    if (role !== 'replica') {
      start('tokenizer', 'tokenizer', env);
      start('api', 'api', env);
    }
    logger.info('stack started', {
      role,
      services: this.processes.map((p) => p.spec.name).join(','),
      replicas: this.replicas.map((r) => r.replicaId).join(','),
      ...(role !== 'replica' ? { api: `http://${config.host}:${config.port}` } : {}),
    });
  }

  /** The resolved configuration with this replica's admin ports and thread share (its own file). */
  private replicaConfigFile(replica: ReplicaSpec): string {
    const { config, resolvedConfigFile } = this.options;
    if (replica.index === 0 && replica.cpuThreads === undefined) return resolvedConfigFile;
    const file = path.join(path.dirname(resolvedConfigFile), `config.${replica.replicaId}.yaml`);
    const own = Object.assign(Object.create(Object.getPrototypeOf(config) as object) as DeepInferConfig, config, {
      schedulerAdminPort: replica.schedulerAdminPort,
      executorAdminPort: replica.executorAdminPort,
      ...(replica.cpuThreads !== undefined ? { cpuThreads: replica.cpuThreads } : {}),
    });
    saveConfig(own, file, `Resolved by deepinfer serve for replica ${replica.replicaId}; do not edit`);
    return file;
  }

  private async ensureNats(mayStart: boolean): Promise<void> {
    const { config, logger } = this.options;
    const endpoint = parseNatsUrl(config.natsUrl);
    if (await natsAnswers(endpoint)) {
      logger.info('using the NATS server already running', { url: config.natsUrl });
      return;
    }
    if (!mayStart) {
      throw new LaunchError(`no NATS server answers at ${config.natsUrl}: a replica joins the NATS of its frontend (or a node of its cluster) and never starts one`, 1);
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
