import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import type { Logger } from '@deepinfer/observability';
import { pipeWithPrefix } from './line-prefixer.js';
import { RestartBackoff } from './restart-backoff.js';

export interface ProcessSpec {
  /** Short name used as the log prefix, e.g. `scheduler`. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Exit codes after which restarting is pointless (e.g. 2: invalid configuration); the
   * supervisor reports them through onFatalExit instead.
   */
  fatalExitCodes?: readonly number[];
  /** Drop the child's output (e.g. nats-server's banner when the log level is not debug). */
  discardOutput?: boolean;
}

export interface SupervisedProcessOptions {
  logger: Logger;
  /** Where prefixed output goes (default: this process's stdout). */
  output?: NodeJS.WritableStream;
  backoff?: RestartBackoff;
  onFatalExit?: (name: string, code: number) => void;
}

/**
 * One child process kept alive: started, its output prefixed, restarted with backoff when it
 * exits on its own, and stopped (SIGTERM, then SIGKILL after a grace period) on request.
 */
export class SupervisedProcess {
  private child: ChildProcess | undefined;
  private startedAtMs = 0;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private numRestarts = 0;
  private readonly backoff: RestartBackoff;

  constructor(
    readonly spec: ProcessSpec,
    private readonly options: SupervisedProcessOptions,
  ) {
    this.backoff = options.backoff ?? new RestartBackoff();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get restarts(): number {
    return this.numRestarts;
  }

  start(): void {
    const { spec } = this;
    const stdio = spec.discardOutput ? 'ignore' : 'pipe';
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env ?? process.env, stdio: ['ignore', stdio, stdio] });
    this.child = child;
    this.startedAtMs = Date.now();
    if (!spec.discardOutput) {
      const out = (this.options.output ?? process.stdout) as Writable;
      const prefix = `[${spec.name}] `.padEnd(13);
      pipeWithPrefix(child.stdout!, out, prefix);
      pipeWithPrefix(child.stderr!, out, prefix);
    }
    child.on('error', (err) => this.options.logger.error('cannot start process', { name: spec.name, command: spec.command, err: err.message }));
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child || this.stopping) return;
    const uptimeMs = Date.now() - this.startedAtMs;
    if (code !== null && this.spec.fatalExitCodes?.includes(code)) {
      this.options.logger.error('process exited with a fatal status; not restarting', { name: this.spec.name, code });
      this.options.onFatalExit?.(this.spec.name, code);
      return;
    }
    const delayMs = this.backoff.next(uptimeMs);
    this.options.logger.warn('process exited; restarting', { name: this.spec.name, code, signal, uptimeMs, restartInMs: delayMs, restarts: this.numRestarts + 1 });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.numRestarts++;
      this.start();
    }, delayMs);
  }

  /**
   * From now on an exit is final: no restart. Called for every process as soon as the stack
   * begins to stop, because Ctrl-C in a terminal signals the whole process group at once and
   * a child may exit before its own stop() is reached.
   */
  markStopping(): void {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }

  /** Stops the process and any pending restart; resolves when it has exited. */
  stop(graceMs = 10_000): Promise<void> {
    this.markStopping();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
