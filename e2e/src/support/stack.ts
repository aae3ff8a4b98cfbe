import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICE_NAMES, type ServiceName } from '@deepinfer/contracts';
import { getFreePort, waitFor } from '@deepinfer/testing';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface Stack {
  launcher: ChildProcess;
  natsUrl: string;
  apiPort: number;
  adminPorts: Record<ServiceName, number>;
  /** Everything the launcher printed so far (prefixed service logs included). */
  output(): string;
  /** PIDs of the launcher's direct children (services and nats-server), from /proc. */
  childPids(): number[];
  /** SIGINT goes to the whole process group (Ctrl-C); other signals to the launcher alone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the whole stack the way a user does (`deepinfer serve`, with `extraArgs` and the
 * environment variables `extraEnv`), on free ports with its own nats-server, and waits until
 * every service's admin /health and the api's /health (which needs a registered executor)
 * answer 200.
 */
export async function startStack(extraArgs: string[] = [], extraEnv: Record<string, string> = {}): Promise<Stack> {
  const natsPort = await getFreePort();
  const apiPort = await getFreePort();
  const adminPorts = Object.fromEntries(await Promise.all(SERVICE_NAMES.map(async (s) => [s, await getFreePort()]))) as Record<ServiceName, number>;
  const args = [
    path.join(REPO_ROOT, 'bin', 'deepinfer.js'), 'serve',
    '--nats-url', `nats://127.0.0.1:${natsPort}`,
    '--host', '127.0.0.1',
    '--port', String(apiPort),
    ...SERVICE_NAMES.flatMap((s) => [`--${s}-admin-port`, String(adminPorts[s])]),
    ...extraArgs,
  ];
  // The test's own DEEPINFER_* variables never leak in; `extraEnv` is exactly what the test sets.
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DEEPINFER_'))), ...extraEnv };
  // Its own process group, like a command started in a terminal: stop('SIGINT') then signals
  // the whole group, as Ctrl-C does.
  const launcher = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  launcher.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  launcher.stderr!.on('data', (d: Buffer) => (text += d.toString()));

  const stack: Stack = {
    launcher,
    natsUrl: `nats://127.0.0.1:${natsPort}`,
    apiPort,
    adminPorts,
    output: () => text,
    childPids: () => childrenOf(launcher.pid!),
    stop: (signal = 'SIGINT') =>
      new Promise((resolve) => {
        if (launcher.exitCode !== null) return resolve(launcher.exitCode);
        launcher.once('exit', (code) => resolve(code));
        if (signal === 'SIGINT') process.kill(-launcher.pid!, 'SIGINT');
        else launcher.kill(signal);
      }),
  };
  try {
    await waitFor('every service healthy', async () => {
      if (launcher.exitCode !== null) throw new Error(`launcher exited with ${launcher.exitCode}:\n${text}`);
      const statuses = await Promise.all(SERVICE_NAMES.map((s) => httpStatus(`http://127.0.0.1:${adminPorts[s]}/health`)));
      // The api's public /health is ready only when an executor is registered too.
      return statuses.every((s) => s === 200) && (await httpStatus(`http://127.0.0.1:${apiPort}/health`)) === 200;
    }, 90000, 250);
  } catch (err) {
    await stack.stop('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- launcher output ---\n${text}`, { cause: err });
  }
  return stack;
}

export async function httpStatus(url: string): Promise<number | undefined> {
  try {
    return (await fetch(url)).status;
  } catch {
    return undefined;
  }
}

export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

export function commandLineOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}
