import { execFile } from 'node:child_process';

/** What a command printed and how it exited; only produced when the command actually ran. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command without a shell. Resolves for every run that started, whatever its exit code;
 * rejects when it could not be started (an error whose `code` is e.g. 'ENOENT' or 'EACCES') or
 * was killed by the timeout (`code` 'ETIMEDOUT'). Injected so tests can replay captured outputs.
 */
export type CommandRunner = (file: string, args: readonly string[]) => Promise<CommandResult>;

export interface ExecFileRunnerOptions {
  /** A wedged driver can make nvidia-smi hang for minutes; startup must not wait on it. */
  timeoutMs?: number;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;

/** Error raised by the default runner when the command outlives its timeout. */
export class CommandTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';

  constructor(file: string, readonly timeoutMs: number) {
    super(`${file} did not finish within ${timeoutMs} ms`);
    this.name = 'CommandTimeoutError';
  }
}

export function createExecFileRunner(options: ExecFileRunnerOptions = {}): CommandRunner {
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  return (file, args) =>
    new Promise<CommandResult>((resolve, reject) => {
      execFile(
        file,
        [...args],
        { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 1024 * 1024, windowsHide: true },
        (error, stdout, stderr) => {
          if (!error) {
            resolve({ exitCode: 0, stdout, stderr });
            return;
          }
          // execFile reports the timeout as a kill by its own signal, with no exit code.
          if (error.killed && error.signal) {
            reject(new CommandTimeoutError(file, timeoutMs));
            return;
          }
          // A numeric code is the process's exit status; a string code (ENOENT…) means it never ran.
          if (typeof error.code === 'number') {
            resolve({ exitCode: error.code, stdout, stderr });
            return;
          }
          reject(error);
        },
      );
    });
}

/** The runner used when none is injected: execFile with a 5 s timeout. */
export const execFileRunner: CommandRunner = createExecFileRunner();
