import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { getFreePort, startNatsServer, waitFor, type NatsServerHandle } from '@deepinfer/testing';
import { GOLDEN_TEXT, MODEL_NAME } from './support/golden.js';
import { httpStatus, REPO_ROOT } from './support/stack.js';

/**
 * The several-machines path of docs/scale-out.md, on one machine: a NATS server with
 * credentials (the cluster), `deepinfer serve --role frontend` (api + tokenizer) as one launcher
 * and `deepinfer serve --role replica` (a scheduler+executor pair) as another, exactly the
 * commands the docs give, joined only by the NATS URL and credentials. The replica joins at run
 * time, serves, leaves (its launcher stopped: new requests get a 503 at once), and rejoins.
 */
const NATS_USER = 'deepinfer';
const NATS_PASSWORD = 'multi-machine-test';

interface Launcher {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

function launch(args: string[]): Launcher {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DEEPINFER_')));
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/deepinfer.js'), 'serve', ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  return {
    child,
    output: () => text,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        process.kill(-child.pid!, 'SIGINT');
      }),
  };
}

interface ReplicaHealth {
  replicaId: string;
  status: string;
}

describe('replicas on other machines: deepinfer serve --role frontend and --role replica over one NATS', () => {
  let nats: NatsServerHandle;
  let frontend: Launcher;
  let replica: Launcher | undefined;
  let apiPort: number;
  let replicaArgs: string[];
  let client: OpenAI;
  const replicaId = `${os.hostname().toLowerCase().replace(/[^a-z0-9_-]/g, '-')}-r0`;
  const natsArgs = () => ['--nats-url', nats.url, '--nats-user', NATS_USER, '--nats-password', NATS_PASSWORD];
  const health = async () => {
    const res = await fetch(`http://127.0.0.1:${apiPort}/health`).catch(() => undefined);
    return { status: res?.status, replicas: res ? (((await res.json()) as { details?: { replicas?: ReplicaHealth[] } }).details?.replicas ?? []) : [] };
  };

  beforeAll(async () => {
    nats = await startNatsServer({ user: NATS_USER, password: NATS_PASSWORD });
    apiPort = await getFreePort();
    const [apiAdmin, tokenizerAdmin, schedulerAdmin, executorAdmin] = await Promise.all([getFreePort(), getFreePort(), getFreePort(), getFreePort()]);
    frontend = launch(['--role', 'frontend', ...natsArgs(), '--host', '127.0.0.1', '--port', String(apiPort), '--api-admin-port', String(apiAdmin), '--tokenizer-admin-port', String(tokenizerAdmin)]);
    replicaArgs = ['--role', 'replica', ...natsArgs(), '--scheduler-admin-port', String(schedulerAdmin), '--executor-admin-port', String(executorAdmin), '--cpu-threads', '1'];
    client = new OpenAI({ baseURL: `http://127.0.0.1:${apiPort}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
    // The frontend alone is up (its tokenizer healthy) but degraded: no replica to generate with.
    await waitFor('the frontend', async () => {
      if (frontend.child.exitCode !== null) throw new Error(`frontend exited ${frontend.child.exitCode}:\n${frontend.output()}`);
      return (await httpStatus(`http://127.0.0.1:${tokenizerAdmin}/health`)) === 200 && (await httpStatus(`http://127.0.0.1:${apiAdmin}/health`)) === 503;
    }, 60000, 250);
  }, 90000);

  afterAll(async () => {
    await replica?.stop();
    await frontend?.stop();
    await nats?.stop();
  });

  it('serves nothing before a replica joins (503), then the golden story once one has', async () => {
    await expect(client.completions.create({ model: MODEL_NAME, prompt: '', max_tokens: 8, temperature: 0 })).rejects.toMatchObject({ status: 503 });
    replica = launch(replicaArgs);
    await waitFor('the replica joined', async () => {
      if (replica!.child.exitCode !== null) throw new Error(`replica exited ${replica!.child.exitCode}:\n${replica!.output()}`);
      const h = await health();
      return h.status === 200 && h.replicas.some((r) => r.replicaId === replicaId && r.status === 'ok');
    }, 90000, 250);
    const completion = await client.completions.create({ model: MODEL_NAME, prompt: '', max_tokens: 200, temperature: 0 });
    expect(completion.choices[0]!.text).toBe(GOLDEN_TEXT);
    // Both launchers joined the cluster's NATS; neither started a nats-server of its own.
    expect(replica!.output()).toContain('using the NATS server already running');
    expect(replica!.output() + frontend.output()).not.toContain('started nats-server');
  }, 120000);

  it('fails new requests fast when the replica leaves, and serves again when it rejoins', async () => {
    await replica!.stop();
    await waitFor('the replica gone from /health', async () => !(await health()).replicas.some((r) => r.replicaId === replicaId && r.status === 'ok'), 15000, 100);
    const started = performance.now();
    await expect(client.completions.create({ model: MODEL_NAME, prompt: 'Once', max_tokens: 4 })).rejects.toMatchObject({ status: 503 });
    expect(performance.now() - started).toBeLessThan(5000);
    replica = launch(replicaArgs);
    await waitFor('the replica rejoined', async () => (await health()).replicas.some((r) => r.replicaId === replicaId && r.status === 'ok'), 90000, 250);
    const again = await client.completions.create({ model: MODEL_NAME, prompt: '', max_tokens: 200, temperature: 0 });
    expect(again.choices[0]!.text).toBe(GOLDEN_TEXT);
  }, 150000);
});
