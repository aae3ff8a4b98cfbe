import { Routes, SERVICE_NAMES } from '@deepinfer/contracts';
import { MessageBus } from '@deepinfer/messaging';
import { createLogger } from '@deepinfer/observability';
import { waitFor } from '@deepinfer/testing';
import { commandLineOf, isAlive, startStack, type Stack } from './support/stack.js';

/** `deepinfer serve` on a bare machine: nats-server + four services, supervised. One stack for the file. */
describe('deepinfer serve', () => {
  let stack: Stack;
  let bus: MessageBus;

  beforeAll(async () => {
    stack = await startStack();
    bus = await MessageBus.connect({ url: stack.natsUrl, name: 'e2e', logger: createLogger({ name: 'e2e', level: 'error' }) });
  });
  afterAll(async () => {
    await bus?.close();
    if (stack) await stack.stop('SIGKILL');
  });

  it('started its own nats-server and the four services as child processes', () => {
    const commands = stack.childPids().map(commandLineOf);
    expect(commands.filter((c) => c.includes('nats-server'))).toHaveLength(1);
    for (const service of SERVICE_NAMES) expect(commands.filter((c) => c.includes(`apps/${service}/dist/main.js`))).toHaveLength(1);
  });

  it.each(SERVICE_NAMES)('%s answers health over NATS and over HTTP', async (service) => {
    const reply = await bus.call(Routes.health.at(service), {}, { timeoutMs: 5000 });
    expect(reply).toMatchObject({ service, status: 'ok' });
    const http = await fetch(`http://127.0.0.1:${stack.adminPorts[service]}/health`);
    expect(http.status).toBe(200);
    expect(await http.json()).toMatchObject({ service, instanceId: reply.instanceId });
    const metrics = await (await fetch(`http://127.0.0.1:${stack.adminPorts[service]}/metrics`)).text();
    expect(metrics).toContain(`service="${service}"`);
  });

  it('restarts a killed service and logs it', async () => {
    const before = await bus.call(Routes.health.at('scheduler'), {}, {});
    const pid = stack.childPids().find((p) => commandLineOf(p).includes('apps/scheduler/dist/main.js'))!;
    process.kill(pid, 'SIGKILL');
    await waitFor('scheduler restarted', async () => {
      const after = await bus.call(Routes.health.at('scheduler'), {}, { timeoutMs: 1000 }).catch(() => undefined);
      return after && after.instanceId !== before.instanceId ? after : undefined;
    }, 60000, 250);
    expect(stack.output()).toMatch(/process exited; restarting name=scheduler code=null signal=SIGKILL/);
  });

  it('stops everything on Ctrl-C (SIGINT to the process group) and leaves no process behind', async () => {
    const pids = stack.childPids();
    expect(pids.length).toBe(5);
    const code = await stack.stop('SIGINT');
    expect(code).toBe(0);
    await waitFor('children gone', () => pids.every((p) => !isAlive(p)), 15000);
    const afterStop = stack.output().slice(stack.output().indexOf('stopping the stack'));
    expect(afterStop).not.toContain('restarting');
  });
});
