import fs from 'node:fs';
import net from 'node:net';

/**
 * The kernel's ephemeral port range (what it gives outgoing connections and `listen(0)`), from
 * /proc; Linux's default where that cannot be read.
 */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

/** Ports handed out by this process (so two calls never return the same one). */
const handedOut = new Set<number>();

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, chosen OUTSIDE the kernel's ephemeral
 * range. Why: a port from `listen(0)` is an ephemeral one, and between this call and the service
 * binding it, any outgoing connection (a service's NATS client, an HTTP poll) may take it as its
 * local port and keep it for its whole life: the service then fails with EADDRINUSE however often
 * it is restarted (seen as a 90 s e2e timeout). Ports below the range are never given to
 * outgoing connections.
 */
export async function getFreePort(): Promise<number> {
  const [low] = ephemeralRange();
  const from = Math.max(10000, Math.min(low - 12000, 20000));
  const span = Math.max(1000, low - from);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * span);
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in [${from}, ${from + span})`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
