/**
 * What Nest's microservice dispatch costs on the hot path: the three routes every generated token
 * crosses (the executor's step, the tokenizer's step outputs, the api's deltas), one message at a
 * time as at concurrency 1, through BusTransport (`@ServeRoute`/`@ListenRoute` on a controller:
 * Nest's guards/pipes/interceptors/filters pipeline, then the handler) and bound straight to the
 * bus (`@BusRoute`: BusHandlers calls the method). Both run in one process on a real nats-server,
 * alternating rounds; the process's CPU time (user + system, process.cpuUsage) per message
 * includes the sending side, the same for both, so the difference is Nest's dispatch.
 *
 *   npm run build && PATH=$PATH:/usr/sbin node bench/dist/bus-dispatch-bench.js [--messages 2000] [--rounds 7]
 */
import 'reflect-metadata';
import { Controller, Injectable, Module, type DynamicModule } from '@nestjs/common';
import { Routes, type DeltaBatchMessage, type SchedulerOutput, type StepOutputsMessage, type StepResult } from '@deepinfer/contracts';
import { MessageBus } from '@deepinfer/messaging';
import { createLogger } from '@deepinfer/observability';
import { bootstrapService, BusRoute, ListenRoute, ROUTE_INSTANCES, ServeRoute, type RunningService } from '@deepinfer/service-kit';
import { getFreePort, startNatsServer } from '@deepinfer/testing';
import { markdownTable, percentile } from './report-table.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const MESSAGES = arg('messages', 2000);
const ROUNDS = arg('rounds', 7);

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
  step(): StepResult {
    return result;
  }
  @ListenRoute(Routes.tokenizerOutputs)
  outputs(): void {
    delivered?.();
  }
  @ListenRoute(Routes.apiDeltas)
  deltas(): void {
    delivered?.();
  }
}

@Injectable()
class DirectHandlers {
  @BusRoute(Routes.executorStep)
  step(): StepResult {
    return result;
  }
  @BusRoute(Routes.tokenizerOutputs)
  outputs(): void {
    delivered?.();
  }
  @BusRoute(Routes.apiDeltas)
  deltas(): void {
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

async function round(client: MessageBus, path: Path, route: RouteCase): Promise<{ cpuUs: number; wallUs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < MESSAGES; i++) {
    if (route === 'executorStep') {
      await client.call(Routes.executorStep.at(path), step);
    } else {
      const seen = nextDelivery();
      if (route === 'tokenizerOutputs') client.emit(Routes.tokenizerOutputs.at(path), outputs);
      else client.emit(Routes.apiDeltas.at(path), deltas);
      await seen;
    }
  }
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000 / MESSAGES;
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / MESSAGES, wallUs };
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
    // Warm-up (JIT) on both paths, then alternating rounds.
    await round(client, 'nest', route);
    await round(client, 'direct', route);
    const cpu: Record<Path, number[]> = { nest: [], direct: [] };
    const wall: Record<Path, number[]> = { nest: [], direct: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const path of r % 2 === 0 ? (['nest', 'direct'] as const) : (['direct', 'nest'] as const)) {
        const m = await round(client, path, route);
        cpu[path].push(m.cpuUs);
        wall[path].push(m.wallUs);
      }
    }
    const diffs = cpu.nest.map((n, i) => n - cpu.direct[i]!);
    rows.push([
      route,
      percentile(cpu.direct, 0.5).toFixed(1),
      percentile(cpu.nest, 0.5).toFixed(1),
      `${percentile(diffs, 0.5).toFixed(1)} (${Math.min(...diffs).toFixed(1)}–${Math.max(...diffs).toFixed(1)})`,
      percentile(wall.direct, 0.5).toFixed(1),
      percentile(wall.nest, 0.5).toFixed(1),
    ]);
  }
  await client.close();
  console.log(`\nHot-path dispatch, one message at a time (${MESSAGES} a round, ${ROUNDS} rounds alternating, median): process CPU µs per message (both ends)\n`);
  console.log(markdownTable(['route', 'CPU µs @BusRoute (direct)', 'CPU µs BusTransport (Nest)', 'Nest − direct µs (range of rounds)', 'wall µs direct', 'wall µs Nest'], rows));
} finally {
  for (const s of services) await s.close();
  await nats.stop();
}
