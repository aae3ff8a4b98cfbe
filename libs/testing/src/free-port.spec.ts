import fs from 'node:fs';
import net from 'node:net';
import { getFreePort } from './free-port.js';

test('hands out distinct listenable ports below the kernel ephemeral range (never a client socket’s port)', async () => {
  const [low] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const ports = await Promise.all(Array.from({ length: 20 }, () => getFreePort()));
  expect(new Set(ports).size).toBe(20);
  for (const port of ports) expect(port).toBeLessThan(low!);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(ports[0], '127.0.0.1', () => resolve()));
  await new Promise((resolve) => server.close(resolve));
});
