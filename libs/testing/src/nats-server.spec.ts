import net from 'node:net';
import { startNatsServer } from './nats-server.js';

test('starts a real nats-server that speaks the NATS protocol, and stops it', async () => {
  const nats = await startNatsServer();
  const greeting = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(nats.port, '127.0.0.1');
    socket.once('data', (d) => (socket.destroy(), resolve(d.toString())));
    socket.once('error', reject);
  });
  expect(greeting).toMatch(/^INFO \{.*"server_id"/);
  await nats.stop();
  expect(nats.process.exitCode !== null || nats.process.signalCode !== null).toBe(true);
});
