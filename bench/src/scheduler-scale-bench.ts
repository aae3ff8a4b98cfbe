// Scheduler at scale: the real Scheduler (libs/scheduler-core) and the executor's books
// (ExecutorState) in one process, no NATS, on the simulated device (libs/sim-device, a
// MEASURING INSTRUMENT: modelled step times, fingerprint tokens). Asks whether the scheduler's
// CPU keeps up with a real card when thousands of requests with long shared prefixes fight for
// the KV cache.
//
//   npm run build && node bench/dist/scheduler-scale-bench.js [--requests 4096] [--profile rtx5090]
//       [--system-prompts 8] [--system-tokens 1024] [--tail-tokens 256] [--max-tokens 256]
//       [--max-num-seqs 512] [--max-num-batched-tokens 8192] [--gpu-memory-utilization 0.9]
//
// Every request arrives at t = 0: one of the system prompts, then a unique tail; greedy, up to
// max-tokens outputs. Each step: schedule() → ExecutorState turns the step into the engine batch
// → the simulated device computes its tokens (computeStep: no sleeping; the step's modelled
// device time advances a simulated clock, which is also the scheduler's clock) → update().
// Prints steps, the scheduler's own wall time per step (schedule + update), the modelled device
// time per step, prefix-cache hit rate, preemptions, finished requests, and the scheduler's CPU
// as a fraction of the modelled device time (the share of a step the scheduler would take if it
// did not overlap the device).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SchedulerOutput } from '@deepinfer/contracts';
import { ExecutorState, type EngineSample, type EngineSequence, type StepEngine } from '@deepinfer/executor-core';
import { Scheduler } from '@deepinfer/scheduler-core';
import { SimulatedDevice, simProfile, SIM_PROFILE_NAMES, type SimProfileName } from '@deepinfer/sim-device';
import { LLAMA_31_8B_DIMS, writeModelShape } from '@deepinfer/testing';

interface Options {
  requests: number;
  profile: SimProfileName;
  systemPrompts: number;
  systemTokens: number;
  tailTokens: number;
  maxTokens: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  gpuMemoryUtilization: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    requests: 4096,
    profile: 'rtx5090',
    systemPrompts: 8,
    systemTokens: 1024,
    tailTokens: 256,
    maxTokens: 256,
    maxNumSeqs: 512, // configs/nvidia_5090.yaml
    maxNumBatchedTokens: 8192,
    gpuMemoryUtilization: 0.9,
  };
  const numeric: Record<string, keyof Options> = {
    '--requests': 'requests',
    '--system-prompts': 'systemPrompts',
    '--system-tokens': 'systemTokens',
    '--tail-tokens': 'tailTokens',
    '--max-tokens': 'maxTokens',
    '--max-num-seqs': 'maxNumSeqs',
    '--max-num-batched-tokens': 'maxNumBatchedTokens',
    '--gpu-memory-utilization': 'gpuMemoryUtilization',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i]!, argv[i + 1]];
    if (flag === '--profile') {
      if (!SIM_PROFILE_NAMES.includes(value as SimProfileName)) throw new Error(`--profile: one of ${SIM_PROFILE_NAMES.join(', ')}`);
      opts.profile = value as SimProfileName;
    } else if (numeric[flag] && Number.isFinite(Number(value))) {
      (opts[numeric[flag]!] as number) = Number(value);
    } else {
      throw new Error(`unknown or malformed argument ${flag} ${value ?? ''}`);
    }
  }
  return opts;
}

/** Deterministic token ids in [1000, 128000): no special tokens of the Llama 3 vocabulary. */
function tokens(seed: number, length: number): number[] {
  let x = (seed * 2654435761) >>> 0 || 1;
  return Array.from({ length }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return 1000 + ((x >>> 0) % 127_000);
  });
}

const percentile = (sorted: Float64Array, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const modelDirectory = writeModelShape({ architecture: 'llama', dims: LLAMA_31_8B_DIMS, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'scheduler-scale-bench-')) });
  const device = await SimulatedDevice.create({
    model: modelDirectory,
    profile: simProfile(opts.profile),
    blockSize: 16,
    gpuMemoryUtilization: opts.gpuMemoryUtilization,
    maxNumBatchedTokens: opts.maxNumBatchedTokens,
    seed: 0,
  });
  const info = device.info;

  // The device as an engine that does not wait: its modelled step time goes to the simulated clock.
  let simNowMs = 0;
  const lastStep = { ms: 0 }; // the modelled time of the step the engine ran last (0: none ran)
  const engine: StepEngine = {
    step(sequences: readonly EngineSequence[]): Promise<(EngineSample | undefined)[]> {
      const { samples, stepTimeMs } = device.computeStep(sequences);
      lastStep.ms = stepTimeMs;
      return Promise.resolve(samples);
    },
  };
  const executor = new ExecutorState(engine, info.blockSize, info.vocabSize, info.numKvBlocks, { maxDecodeAheadSequences: 0 });
  const scheduler = new Scheduler(
    {
      maxNumBatchedTokens: opts.maxNumBatchedTokens,
      maxNumSeqs: opts.maxNumSeqs,
      maxModelLen: Math.min(info.maxPositionEmbeddings, info.numKvBlocks * info.blockSize),
      enableChunkedPrefill: true,
      enablePrefixCaching: true,
      eosTokenIds: info.eosTokenIds,
      vocabSize: info.vocabSize,
      modelCacheKey: 'llama-3.1-8b-shape@sim',
      clock: () => simNowMs,
    },
    { numBlocks: info.numKvBlocks, blockSize: info.blockSize },
  );

  const systemPrompts = Array.from({ length: opts.systemPrompts }, (_, i) => tokens(1 + i, opts.systemTokens));
  for (let i = 0; i < opts.requests; i++) {
    const promptTokenIds = [...systemPrompts[i % opts.systemPrompts]!, ...tokens(100_000 + i, opts.tailTokens)];
    const submitted = scheduler.submit({ requestId: `r${i}`, promptTokenIds, samplingParams: { maxTokens: opts.maxTokens, temperature: 0 } });
    if (!submitted.accepted) throw new Error(`request r${i} refused: ${submitted.message}`);
  }
  process.stderr.write(
    `${opts.requests} requests (${opts.systemPrompts} system prompts of ${opts.systemTokens} tokens + ${opts.tailTokens} unique, ${opts.maxTokens} outputs) on ${info.deviceName}: ` +
      `${info.numKvBlocks} KV blocks of ${info.blockSize} (${info.numKvBlocks * info.blockSize} tokens), max ${opts.maxNumSeqs} sequences, ${opts.maxNumBatchedTokens} tokens per step\n`,
  );

  const schedulerMs: number[] = [];
  const executorMs: number[] = [];
  const deviceMs: number[] = [];
  const batchSizes: number[] = [];
  let numFinished = 0;
  let numOutputTokens = 0;
  const wallStarted = performance.now();
  while (scheduler.hasWork()) {
    const t0 = performance.now();
    const step: SchedulerOutput = scheduler.schedule();
    const t1 = performance.now();
    lastStep.ms = 0;
    const result = await executor.execute(step);
    const t2 = performance.now();
    const outputs = scheduler.update(result);
    const t3 = performance.now();
    simNowMs += lastStep.ms;
    schedulerMs.push(t1 - t0 + (t3 - t2));
    executorMs.push(t2 - t1);
    deviceMs.push(lastStep.ms);
    batchSizes.push(step.newRequests.length + step.cachedRequests.requestIds.length);
    for (const output of outputs.outputs) {
      numOutputTokens += output.newTokenIds.length;
      if (output.finishReason !== undefined) numFinished++;
    }
    if (schedulerMs.length % 500 === 0) {
      process.stderr.write(
        `  step ${schedulerMs.length}: ${numFinished} finished, ${scheduler.numRunningRequests} running, ${scheduler.numWaitingRequests} waiting, ` +
          `${scheduler.numPreemptions} preemptions, simulated ${(simNowMs / 1e3).toFixed(1)} s, wall ${((performance.now() - wallStarted) / 1e3).toFixed(1)} s\n`,
      );
    }
  }
  const wallS = (performance.now() - wallStarted) / 1e3;
  device.close();
  fs.rmSync(modelDirectory, { recursive: true, force: true });

  const stats = scheduler.stats();
  const sorted = (values: number[]) => Float64Array.from(values).sort();
  const sched = sorted(schedulerMs);
  const exec = sorted(executorMs);
  const dev = sorted(deviceMs.filter((ms) => ms > 0));
  const sum = (values: number[]) => values.reduce((s, v) => s + v, 0);
  const row = (name: string, value: string) => console.log(`${name.padEnd(52)} ${value}`);
  console.log(`\nscheduler scale bench: ${opts.requests} requests, Llama-3.1-8B shape on ${info.deviceName}`);
  row('steps', `${schedulerMs.length} (mean batch ${(sum(batchSizes) / batchSizes.length).toFixed(0)} sequences)`);
  row('scheduler time per step, schedule + update (wall)', `p50 ${percentile(sched, 0.5).toFixed(3)} ms   p99 ${percentile(sched, 0.99).toFixed(3)} ms   max ${sched[sched.length - 1]!.toFixed(3)} ms`);
  row('executor books + simulator host time per step (wall)', `p50 ${percentile(exec, 0.5).toFixed(3)} ms   p99 ${percentile(exec, 0.99).toFixed(3)} ms`);
  row('modelled device time per step', `p50 ${percentile(dev, 0.5).toFixed(2)} ms   p99 ${percentile(dev, 0.99).toFixed(2)} ms   (total ${(simNowMs / 1e3).toFixed(1)} s simulated)`);
  row('prefix-cache hit rate', `${(stats.prefixCache.hitRate * 100).toFixed(1)} % (${stats.prefixCache.numHitTokens} of ${stats.prefixCache.numQueryTokens} prompt tokens)`);
  row('preemptions', `${scheduler.numPreemptions}`);
  row('finished requests', `${numFinished} of ${opts.requests} (${numOutputTokens} output tokens, ${((numOutputTokens / simNowMs) * 1e3).toFixed(0)} tok/s modelled)`);
  row('scheduler CPU / modelled device time', `${((sum(schedulerMs) / simNowMs) * 100).toFixed(2)} %`);
  row('(executor books + simulator) / modelled device time', `${((sum(executorMs) / simNowMs) * 100).toFixed(2)} %`);
  row('wall time of the run', `${wallS.toFixed(1)} s`);
  if (numFinished !== opts.requests) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
