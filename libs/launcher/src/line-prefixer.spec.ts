import { PassThrough } from 'node:stream';
import { pipeWithPrefix } from './line-prefixer.js';

test('prefixes every line, across chunk boundaries, and flushes a partial last line', async () => {
  const input = new PassThrough();
  const out = new PassThrough();
  let written = '';
  out.on('data', (d: Buffer) => (written += d.toString()));
  pipeWithPrefix(input, out, '[api] ');
  input.write('one\ntw');
  input.write('o\nthr');
  input.end('ee');
  await new Promise((r) => setImmediate(r));
  expect(written).toBe('[api] one\n[api] two\n[api] three\n');
});
