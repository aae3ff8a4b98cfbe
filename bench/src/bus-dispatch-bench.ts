/**
 * What Nest's microservice dispatch costs on the hot path: the three routes every generated token
 * crosses (the executor's step, the tokenizer's step outputs, the api's deltas), one message at a
 * time as at concurrency 1, through BusTransport (`@ServeRoute`/`@ListenRoute` on a controller:
 * Nest's guards/pipes/interceptors/filters pipeline, then the handler) and bound straight to the
 * bus (`@BusRoute`: BusHandlers calls the method). Both run in one process on a real nats-server,
 * alternating rounds; the process's CPU time (user + system, process.cpuUsage) per message
 * includes the sending side, the same for both, so the difference is Nest's dispatch. The paths
 * alternate message by message, so the machine's other load falls on both alike.
 *
 * A second table times the dispatch alone, in process (no NATS, no JSON): the function the bus
 * calls with a validated message, as BusTransport binds a Nest handler and as @BusRoute binds a
 * method, `--calls` times a round: the figure the noisy end-to-end one estimates.
 *
 *   npm run build && PATH=$PATH:/usr/sbin node bench/dist/bus-dispatch-bench.js [--messages 2000] [--rounds 7] [--calls 50000]
 */
import 'reflect-metadata';
import { Controller, Injectable, Module, type DynamicModule } from '@nestjs/common';
import { Routes, type DeltaBatchMessage, type SchedulerOutput, type StepOutputsMessage, type StepResult } from '@deepinfer/contracts';
import { MessageBus } from '@deepinfer/messaging';
import { createLogger } from '@deepinfer/observability';
import { bootstrapService, BusRoute, eventHandler, ListenRoute, requestHandler, ROUTE_INSTANCES, ServeRoute, type RunningService } from '@deepinfer/service-kit';
import { getFreePort, startNatsServer } from '@deepinfer/testing';
import { markdownTable, percentile } from './report-table.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const MESSAGES = arg('messages', 2000);
const ROUNDS = arg('rounds', 7);
const CALLS = arg('calls', 50000);

// One decoding sequence: the messages of one token at concurrency 1.
const step: SchedulerOutput = {
  stepId: 1,
  totalNumScheduledTokens: 1,
  finishedRequestIds: [],
  preemptedRequestIds: [],
  newRequests: [],
  cachedRequests: { requestIds: ['cmpl-00000001-0'], newBlockIds: [[]], numComputedTokens: [100], numScheduledTokens: [1] },
};
const result: StepResult = { stepId: 1, sampled: [{ requestId: 'cmpl-00000001-0', tokenId: 42 }], executeTimeMs: 0.5 };
const outputs: StepOutputsMessage = { stepId: 1, outputs: [{ requestId: 'cmpl-00000001-0', newTokenIds: [42], numPromptTokens: 128, numCachedTokens: 0, numOutputTokens: 10 }] };
const deltas: DeltaBatchMessage = { deltas: [{ requestId: 'cmpl-00000001-0', seq: 10, text: ' word', tokenIds: [42] }] };

/** Resolves the wait for the next event (one in flight at a time). */
let delivered: (() => void) | undefined;
const nextDelivery = () => new Promise<void>((resolve) => (delivered = resolve));

@Controller()
class NestHandlers {
  @ServeRoute(Routes.executorStep)
  step(_step: SchedulerOutput): StepResult {
    return result;
  }
  @ListenRoute(Routes.tokenizerOutputs)
  outputs(_outputs: StepOutputsMessage): void {
    delivered?.();
  }
  @ListenRoute(Routes.apiDeltas)
  deltas(_deltas: DeltaBatchMessage): void {
    delivered?.();
  }
}

@Injectable()
class DirectHandlers {
  @BusRoute(Routes.executorStep)
  step(_step: SchedulerOutput): StepResult {
    return result;
  }
  @BusRoute(Routes.tokenizerOutputs)
  outputs(_outputs: StepOutputsMessage): void {
    delivered?.();
  }
  @BusRoute(Routes.apiDeltas)
  deltas(_deltas: DeltaBatchMessage): void {
    delivered?.();
  }
}

@Module({})
class NestModule {}
@Module({})
class DirectModule {}

const instancesOf = (id: string) => ({ provide: ROUTE_INSTANCES, useValue: { executorId: id, tokenizerInstanceId: id, apiInstanceId: id } });
const modules: Record<string, DynamicModule> = {
  nest: { module: NestModule, controllers: [NestHandlers], providers: [instancesOf('nest')] },
  direct: { module: DirectModule, providers: [DirectHandlers, instancesOf('direct')] },
};

type Path = 'nest' | 'direct';
type RouteCase = 'executorStep' | 'tokenizerOutputs' | 'apiDeltas';

/** Sends one message on `route` to `path`'s handler and waits for it to be handled (a reply, or the event delivered). */
async function one(client: MessageBus, path: Path, route: RouteCase): Promise<void> {
  if (route === 'executorStep') {
    await client.call(Routes.executorStep.at(path), step);
    return;
  }
  const seen = nextDelivery();
  if (route === 'tokenizerOutputs') client.emit(Routes.tokenizerOutputs.at(path), outputs);
  else client.emit(Routes.apiDeltas.at(path), deltas);
  await seen;
}

/**
 * One round: MESSAGES messages alternating between the two paths message by message (so load
 * from elsewhere on the machine falls on both alike), the process CPU of each message's round
 * trip summed per path. µs per message, per path, and the round's wall time per message.
 */
async function round(client: MessageBus, route: RouteCase): Promise<Record<Path, number> & { wallUs: number }> {
  const cpu: Record<Path, number> = { nest: 0, direct: 0 };
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < MESSAGES; i++) {
    const path: Path = i % 2 === 0 ? 'nest' : 'direct';
    const c0 = process.cpuUsage();
    await one(client, path, route);
    const c = process.cpuUsage(c0);
    cpu[path] += c.user + c.system;
  }
  const half = MESSAGES / 2;
  return { nest: cpu.nest / half, direct: cpu.direct / half, wallUs: Number(process.hrtime.bigint() - t0) / 1000 / MESSAGES };
}

/** CPU µs per call of `fn` (awaited, as the bus awaits a request handler's result). */
async function perCall(fn: () => unknown): Promise<number> {
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) await fn();
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / CALLS;
}

/** The bound functions the bus calls: BusTransport's wrapper of Nest's handler, and @BusRoute's direct call. */
async function dispatchAlone(nest: RunningService, direct: RunningService): Promise<string[][]> {
  const nestHandlers = nest.transport.getHandlers();
  const directInstance = direct.app.get(DirectHandlers);
  const cases = [
    { route: 'executorStep', message: step, viaNest: requestHandler(nestHandlers.get('executorStep')!), viaBus: (m: unknown) => directInstance.step(m as SchedulerOutput) },
    { route: 'tokenizerOutputs', message: outputs, viaNest: eventHandler(nestHandlers.get('tokenizerOutputs')!), viaBus: (m: unknown) => directInstance.outputs(m as StepOutputsMessage) },
    { route: 'apiDeltas', message: deltas, viaNest: eventHandler(nestHandlers.get('apiDeltas')!), viaBus: (m: unknown) => directInstance.deltas(m as DeltaBatchMessage) },
  ];
  const meta = { subject: 'bench' };
  const rows: string[][] = [];
  for (const c of cases) {
    const viaNest = () => c.viaNest(c.message, meta);
    const viaBus = () => c.viaBus(c.message);
    await perCall(viaNest);
    await perCall(viaBus);
    const nestUs: number[] = [];
    const busUs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      nestUs.push(await perCall(viaNest));
      busUs.push(await perCall(viaBus));
    }
    const n = percentile(nestUs, 0.5);
    const b = percentile(busUs, 0.5);
    rows.push([c.route, b.toFixed(2), n.toFixed(2), (n - b).toFixed(2)]);
  }
  return rows;
}

const nats = await startNatsServer();
const services: RunningService[] = [];
try {
  for (const path of ['nest', 'direct'] as const) {
    const port = await getFreePort();
    services.push(
      await bootstrapService(
        { service: 'executor', module: modules[path]!, adminPort: (c) => c.executorAdminPort },
        { argv: ['--executor-admin-port', String(port), '--host', '127.0.0.1'], env: { DEEPINFER_NATS_URL: nats.url, DEEPINFER_LOG_LEVEL: 'error' } },
      ),
    );
  }
  const client = await MessageBus.connect({ url: nats.url, name: 'bench-client', logger: createLogger({ name: 'bench', level: 'error' }) });
  const rows: string[][] = [];
  for (const route of ['executorStep', 'tokenizerOutputs', 'apiDeltas'] as const) {
    await round(client, route); // warm-up (JIT)
    const nest: number[] = [];
    const direct: number[] = [];
    const diffs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const m = await round(client, route);
      nest.push(m.nest);
      direct.push(m.direct);
      diffs.push(m.nest - m.direct);
    }
    const p50 = percentile(direct, 0.5);
    rows.push([route, p50.toFixed(1), percentile(nest, 0.5).toFixed(1), `${percentile(diffs, 0.5).toFixed(1)} (${percentile(diffs, 0.25).toFixed(1)} to ${percentile(diffs, 0.75).toFixed(1)})`]);
  }
  await client.close();
  const dispatchRows = await dispatchAlone(services[0]!, services[1]!);
  console.log(`\nHot-path dispatch over NATS, one message at a time, the two paths alternating message by message (${MESSAGES} a round, ${ROUNDS} rounds, median): process CPU µs per message, both ends\n`);
  console.log(markdownTable(['route', '@BusRoute (direct) µs', 'BusTransport (Nest) µs', 'Nest − direct µs (quartiles of rounds)'], rows));
  console.log(`\nThe dispatch alone, in process (${CALLS} calls a round, ${ROUNDS} rounds alternating, median): CPU µs per call\n`);
  console.log(markdownTable(['route', '@BusRoute µs', 'BusTransport (Nest) µs', 'Nest − direct µs'], dispatchRows));
} finally {
  for (const s of services) await s.close();
  await nats.stop();
}
