import type { Readable, Writable } from 'node:stream';

/**
 * Copies a child's output to `out` line by line, each line prefixed with the child's name, so
 * that four services' logs stay readable in one terminal. A partial last line is flushed when
 * the stream ends.
 */
export function pipeWithPrefix(input: Readable, out: Writable, prefix: string): void {
  let pending = '';
  input.setEncoding('utf8');
  input.on('data', (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      out.write(prefix + pending.slice(0, newline + 1));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
  });
  input.on('end', () => {
    if (pending) out.write(prefix + pending + '\n');
    pending = '';
  });
}
