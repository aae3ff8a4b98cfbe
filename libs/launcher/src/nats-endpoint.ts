import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** The exact command that installs nats-server on Debian/Ubuntu (what the launcher tells users). */
export const NATS_INSTALL_COMMAND = 'sudo apt-get install -y nats-server';

export interface NatsEndpoint {
  host: string;
  port: number;
}

/** Host and port of a `nats://host:port` URL (port 4222 when omitted). */
export function parseNatsUrl(url: string): NatsEndpoint {
  const parsed = new URL(url.includes('://') ? url : `nats://${url}`);
  return { host: parsed.hostname || '127.0.0.1', port: parsed.port ? Number(parsed.port) : 4222 };
}

/** True when something at the endpoint greets like a NATS server (an `INFO {...}` line). */
export function natsAnswers(endpoint: NatsEndpoint, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(endpoint.port, endpoint.host);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('data', (d) => done(d.toString('utf8').startsWith('INFO ')));
    socket.once('error', () => done(false));
  });
}

/** The first executable named `command` on PATH. */
export function findOnPath(command: string, pathEnv = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** nats-server arguments for a local server at the endpoint, with credentials when configured. */
export function natsServerArgs(endpoint: NatsEndpoint, user?: string, password?: string): string[] {
  const args = ['-a', endpoint.host, '-p', String(endpoint.port)];
  if (user) args.push('--user', user, '--pass', password ?? '');
  return args;
}
