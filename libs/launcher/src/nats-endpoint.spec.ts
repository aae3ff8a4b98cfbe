import net from 'node:net';
import { startNatsServer } from '@deepinfer/testing';
import { findOnPath, natsAnswers, natsServerArgs, parseNatsUrl } from './nats-endpoint.js';

describe('nats endpoint helpers', () => {
  it('parses NATS URLs with and without a port', () => {
    expect(parseNatsUrl('nats://127.0.0.1:4333')).toEqual({ host: '127.0.0.1', port: 4333 });
    expect(parseNatsUrl('nats://nats')).toEqual({ host: 'nats', port: 4222 });
    expect(parseNatsUrl('localhost:5000')).toEqual({ host: 'localhost', port: 5000 });
  });

  it('tells a NATS server from another TCP server and from nothing', async () => {
    const nats = await startNatsServer();
    const other = net.createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    const otherPort = (other.address() as net.AddressInfo).port;
    try {
      expect(await natsAnswers({ host: '127.0.0.1', port: nats.port })).toBe(true);
      expect(await natsAnswers({ host: '127.0.0.1', port: otherPort })).toBe(false);
      await nats.stop();
      expect(await natsAnswers({ host: '127.0.0.1', port: nats.port })).toBe(false);
    } finally {
      other.close();
      await nats.stop();
    }
  });

  it('finds executables on PATH', () => {
    expect(findOnPath('nats-server')).toMatch(/nats-server$/);
    expect(findOnPath('nats-server', '/nonexistent')).toBeUndefined();
  });

  it('passes credentials to nats-server when configured', () => {
    expect(natsServerArgs({ host: '127.0.0.1', port: 4222 }, 'u', 'p')).toEqual(['-a', '127.0.0.1', '-p', '4222', '--user', 'u', '--pass', 'p']);
  });
});
