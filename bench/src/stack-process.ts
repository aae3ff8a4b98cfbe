import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFreePort } from '@deepinfer/testing';

export const SERVICES = ['api', 'tokenizer', 'scheduler', 'executor'] as const;
export type Service = (typeof SERVICES)[number];

export interface RunningStack {
  url: string;
  adminPorts: Record<Service, number>;
  child: ChildProcess;
  stop(): Promise<void>;
}

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * `deepinfer serve` (the launcher: nats-server and the four services as processes) on free
 * ports with the given settings flags, started with this Node; resolves once the api's /health
 * answers 200 (the model is loaded), or rejects after `timeoutMs`.
 */
export async function startStack(settingsArgs: readonly string[], options: { timeoutMs?: number; logLevel?: string } = {}): Promise<RunningStack> {
  const port = await getFreePort();
  const nats = await getFreePort();
  const adminPorts = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await getFreePort()]))) as Record<Service, number>;
  const args = [
    path.join(repo, 'bin/deepinfer.js'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--nats-url', `nats://127.0.0.1:${nats}`,
    '--log-level', options.logLevel ?? 'warn', ...SERVICES.flatMap((s) => [`--${s}-admin-port`, String(adminPorts[s])]), ...settingsArgs,
  ];
  const child = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let exitCode: number | null = null;
  child.once('exit', (code) => (exitCode = code ?? -1));
  const url = `http://127.0.0.1:${port}`;
  process.stderr.write('starting the stack…\n');
  const deadline = Date.now() + (options.timeoutMs ?? 120000);
  for (;;) {
    // A launcher that gave up (bad setting, model refused) ends the wait at once, not at the deadline.
    if (exitCode !== null) throw new Error(`deepinfer serve exited with status ${exitCode} before it served`);
    if ((await fetch(`${url}/health`).catch(() => undefined))?.status === 200) break;
    if (Date.now() > deadline) {
      child.kill('SIGINT');
      await exited;
      throw new Error(`the stack did not serve within ${options.timeoutMs ?? 120000} ms`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    adminPorts,
    child,
    stop: async () => {
      if (exitCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}
