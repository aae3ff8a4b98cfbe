import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { getFreePort } from './free-port.js';
import { waitFor } from './wait-for.js';

export interface NatsServerHandle {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts a real nats-server (from PATH) on a free loopback port and waits until it accepts
 * connections. Tests never fake NATS: install it with `apt-get install nats-server`.
 */
export async function startNatsServer(options: { port?: number; user?: string; password?: string } = {}): Promise<NatsServerHandle> {
  const port = options.port ?? (await getFreePort());
  const args = ['-a', '127.0.0.1', '-p', String(port)];
  if (options.user) args.push('--user', options.user, '--pass', options.password ?? '');
  const child = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new Error(`cannot start nats-server (install it: apt-get install -y nats-server): ${err.message}`))),
  );
  await Promise.race([spawnError, waitFor(`nats-server on port ${port} (${stderr.trim()})`, () => canConnect(port), 10000)]);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    process: child,
    stop: () => stopProcess(child),
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process has exited. */
export function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => (clearTimeout(timer), resolve()));
    child.kill('SIGTERM');
  });
}
