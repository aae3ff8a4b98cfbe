import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CommandResult, CommandRunner } from '../command-runner.js';

/**
 * Captures in nvidia-smi/ are byte-for-byte what `nvidia-smi --query-gpu=… --format=csv,noheader,nounits`
 * prints (success captures) or what it prints when it fails (error-*.txt, on stdout as nvidia-smi does).
 * Notable ones: mixed-4090-4090-5090 (index 0, the engine's GPU, is a 4090); not-available-fields
 * (H100 in MIG mode and an A100 behind passthrough, with [N/A]/[Not Supported]);
 * rtx-3090-driver-470-no-compute-cap (a pre-510 driver, queried without compute_cap).
 */
export function readCapture(name: string): string {
  return readFileSync(path.join(import.meta.dirname, 'nvidia-smi', `${name}.txt`), 'utf8');
}

export function succeeded(stdout: string): CommandResult {
  return { exitCode: 0, stdout, stderr: '' };
}

export function failed(exitCode: number, stdout: string, stderr = ''): CommandResult {
  return { exitCode, stdout, stderr };
}

/** An error shaped like the one execFile raises when the program could not be started. */
export function spawnError(code: 'ENOENT' | 'EACCES'): NodeJS.ErrnoException {
  return Object.assign(new Error(`spawn nvidia-smi ${code}`), { code, errno: -2, syscall: 'spawn nvidia-smi', path: 'nvidia-smi' });
}

export interface ScriptedRunner extends CommandRunner {
  calls: { file: string; args: readonly string[] }[];
}

/** Answers successive calls with the given outcomes in order; an Error outcome is a rejection. */
export function scriptedRunner(...outcomes: (CommandResult | Error)[]): ScriptedRunner {
  const calls: ScriptedRunner['calls'] = [];
  const runner = async (file: string, args: readonly string[]): Promise<CommandResult> => {
    calls.push({ file, args });
    const outcome = outcomes[calls.length - 1];
    if (outcome === undefined) throw new Error(`unexpected call #${calls.length}: ${file} ${args.join(' ')}`);
    if (outcome instanceof Error) throw outcome;
    return outcome;
  };
  return Object.assign(runner, { calls });
}
