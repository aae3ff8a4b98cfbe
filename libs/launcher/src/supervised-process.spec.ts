import { PassThrough } from 'node:stream';
import { createLogger } from '@deepinfer/observability';
import { waitFor } from '@deepinfer/testing';
import { RestartBackoff } from './restart-backoff.js';
import { SupervisedProcess } from './supervised-process.js';

const quietLogger = () => {
  const lines: string[] = [];
  return { lines, logger: createLogger({ name: 'launcher', format: 'text', level: 'warn', sink: (l) => lines.push(l) }) };
};

describe('SupervisedProcess (real child processes)', () => {
  it('restarts a process that crashes, with prefixed output, and logs each restart', async () => {
    const { lines, logger } = quietLogger();
    const output = new PassThrough();
    let text = '';
    output.on('data', (d: Buffer) => (text += d.toString()));
    const proc = new SupervisedProcess(
      { name: 'crashy', command: process.execPath, args: ['-e', 'console.log("up " + process.pid); setTimeout(() => process.exit(3), 50)'] },
      { logger, output, backoff: new RestartBackoff(20, 100, 60_000) },
    );
    proc.start();
    await waitFor('two restarts', () => proc.restarts >= 2, 10000);
    await proc.stop();
    expect(text).toMatch(/^\[crashy\] +up \d+$/m);
    expect(lines.filter((l) => l.includes('process exited; restarting') && l.includes('code=3')).length).toBeGreaterThanOrEqual(2);
  });

  it('does not restart after a fatal exit status, and reports it', async () => {
    const { logger } = quietLogger();
    const fatal: [string, number][] = [];
    const proc = new SupervisedProcess(
      { name: 'badconfig', command: process.execPath, args: ['-e', 'process.exit(2)'], fatalExitCodes: [2] },
      { logger, output: new PassThrough(), onFatalExit: (n, c) => fatal.push([n, c]) },
    );
    proc.start();
    await waitFor('fatal report', () => fatal.length > 0);
    expect(fatal).toEqual([['badconfig', 2]]);
    expect(proc.restarts).toBe(0);
  });

  it('stops a running process with SIGTERM and does not restart it', async () => {
    const { logger } = quietLogger();
    const proc = new SupervisedProcess({ name: 'sleeper', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }, { logger, output: new PassThrough() });
    proc.start();
    const pid = proc.pid!;
    await proc.stop();
    expect(() => process.kill(pid, 0)).toThrow();
    await new Promise((r) => setTimeout(r, 100));
    expect(proc.restarts).toBe(0);
  });
});
