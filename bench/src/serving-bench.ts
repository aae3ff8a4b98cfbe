// Serving benchmark: N concurrent streaming clients against a DeepInfer stack.
//
//   npm run build && node bench/dist/serving-bench.js [--url http://127.0.0.1:8000]
//       [--concurrency 1,8,32,64] [--max-tokens 128] [--requests N]
//       [--device sim [--sim-profile rtx5090] [--model DIR]]
//
// Without --url it starts its own stack (`deepinfer serve` on free ports) and stops it after.
// Prints, per concurrency: aggregate output tokens/s, TTFT and inter-token latency p50/p99,
// failed requests; and the CPU cost per generated token of each service (from each service's
// own process CPU counter) plus the executor's engine time per token.
//
// --device sim runs the stack on the simulated GPU (a measuring instrument: modelled step times,
// fingerprint tokens), by default on Llama-3.1-8B's shape with the Llama 3 tokenizer, at
// concurrency 1, 8, 64, 256, 512. It then also prints the stack's efficiency: the simulated
// device's modelled busy time over the wall time (1.0 = the device never waited for the host,
// i.e. throughput equals the ideal throughput of the batches the stack formed), the mean batch,
// and the modelled decode step time at that batch next to the measured ITL.
import path from 'node:path';
import { readModelShape, simProfile, StepTimeModel, type SimProfileName } from '@deepinfer/sim-device';
import fs from 'node:fs';
import os from 'node:os';
import { LLAMA_31_8B_DIMS, writeModelShape } from '@deepinfer/testing';
import { markdownTable as table } from './report-table.js';
import { SERVICES, startStack, type Service } from './stack-process.js';
import { delta, scrape } from './metrics-scrape.js';
import { runClosedLoop } from './closed-loop.js';
import { streamCompletion } from './sse-client.js';

interface Options {
  url?: string;
  concurrency?: number[];
  maxTokens: number;
  requests?: number;
  device?: 'sim';
  simProfile: SimProfileName;
  model?: string;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { maxTokens: 128, simProfile: 'rtx5090' };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--url') opts.url = value;
    else if (argv[i] === '--concurrency') opts.concurrency = value!.split(',').map(Number);
    else if (argv[i] === '--max-tokens') opts.maxTokens = Number(value);
    else if (argv[i] === '--requests') opts.requests = Number(value);
    else if (argv[i] === '--device') {
      if (value !== 'sim') throw new Error('--device: only sim is a benchmark device of its own (the default stack uses the configured engine)');
      opts.device = value;
    } else if (argv[i] === '--sim-profile') opts.simProfile = value as SimProfileName;
    else if (argv[i] === '--model') opts.model = value;
    else continue;
    i++;
  }
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const sim = opts.device === 'sim';
  // Llama-3.1-8B's config.json and the Llama 3 tokenizer, no weights: all the simulator needs.
  const simModel = sim
    ? (opts.model ?? writeModelShape({ architecture: 'llama', dims: LLAMA_31_8B_DIMS, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-llama-3.1-8b-shape-')) }))
    : undefined;
  const concurrencies = opts.concurrency ?? (sim ? [1, 8, 64, 256, 512] : [1, 8, 32, 64]);
  const maxConcurrency = Math.max(...concurrencies);
  const simArgs = sim
    ? ['--device', 'sim', '--sim-profile', opts.simProfile, '--model', simModel!, '--max-num-seqs', String(Math.max(256, maxConcurrency)), '--max-num-batched-tokens', '8192']
    : [];
  const own = opts.url ? undefined : await startStack(simArgs);
  const timeModel = sim ? new StepTimeModel(readModelShape(simModel!), simProfile(opts.simProfile)) : undefined;
  const executorReport = async () =>
    (await (await fetch(`http://127.0.0.1:${adminPorts.executor}/executor`)).json()) as {
      simulator: { busyMs: number; numSteps: number; numTokens: number } | null;
      stepTimes: { p99Ms: number | null };
    };
  const url = opts.url ?? own!.url;
  const adminPorts = own?.adminPorts ?? { api: 9100, tokenizer: 9101, scheduler: 9102, executor: 9103 };
  const metricsOf = (s: Service) => scrape(`http://127.0.0.1:${adminPorts[s]}/metrics`);
  const prompts = Array.from({ length: 256 }, (_, i) => `Once upon a time, there was a ${['little', 'big', 'happy', 'sad'][i % 4]} ${['girl', 'boy', 'dog', 'cat'][Math.floor(i / 4) % 4]} number ${i}`);

  // Warm-up: first requests pay for lazy initialisation everywhere.
  await Promise.all(prompts.slice(0, 4).map((prompt) => streamCompletion(url, { prompt, max_tokens: 16, temperature: 0 })));

  const rows: string[][] = [];
  const hopRows: string[][] = [];
  const simRows: string[][] = [];
  for (const concurrency of concurrencies) {
    const numRequests = opts.requests ?? Math.max(8, concurrency * 2);
    process.stderr.write(`concurrency ${concurrency}: ${numRequests} requests of ${opts.maxTokens} tokens…\n`);
    const before = await Promise.all(SERVICES.map(metricsOf));
    const simBefore = sim ? (await executorReport()).simulator : null;
    const run = await runClosedLoop(url, concurrency, numRequests, (i) => ({ prompt: prompts[i % prompts.length], max_tokens: opts.maxTokens, temperature: 0, ignore_eos: true }));
    const wallS = run.wallS;
    const after = await Promise.all(SERVICES.map(metricsOf));
    const reportAfter = sim ? await executorReport() : null;
    const simAfter = reportAfter?.simulator ?? null;
    const ok = run.timings.filter((t) => t.ok);
    const tokens = run.outputTokens;
    rows.push([String(concurrency), String(numRequests), String(run.numFailed), run.outputTokensPerS.toFixed(0), run.ttftMs.p50.toFixed(1), run.ttftMs.p99.toFixed(1), run.itlMs.p50.toFixed(2), run.itlMs.p99.toFixed(2)]);
    const cpuUsPerToken = SERVICES.map((_, i) => (delta(before[i]!, after[i]!, 'deepinfer_process_cpu_seconds_total') / tokens) * 1e6);
    const engineUsPerToken = (delta(before[3]!, after[3]!, 'deepinfer_executor_step_duration_seconds_sum') / tokens) * 1e6;
    hopRows.push([String(concurrency), ...cpuUsPerToken.map((v) => v.toFixed(0)), engineUsPerToken.toFixed(0)]);
    if (simBefore && simAfter && timeModel) {
      const busyMs = simAfter.busyMs - simBefore.busyMs;
      const steps = simAfter.numSteps - simBefore.numSteps;
      const meanBatch = tokens / Math.max(1, steps);
      // The decode step the model gives for this many sequences at the run's mean context.
      const meanContext = Math.round(ok.reduce((n, t) => n + t.numPromptTokens, 0) / Math.max(1, ok.length) + opts.maxTokens / 2);
      const decodeStepMs = timeModel.stepTimeMs(Array.from({ length: Math.max(1, Math.round(meanBatch)) }, () => ({ numTokens: 1, contextLen: meanContext })));
      simRows.push([
        String(concurrency), (busyMs / (wallS * 1000)).toFixed(3), (tokens / wallS).toFixed(0), (tokens / (busyMs / 1000)).toFixed(0), meanBatch.toFixed(1),
        decodeStepMs.toFixed(2), run.itlMs.p99.toFixed(2), (run.itlMs.p99 / decodeStepMs).toFixed(2),
        // The executor's recent steps as they ran (decode and mixed prefill steps alike).
        String(reportAfter!.stepTimes.p99Ms ?? NaN), (run.itlMs.p99 / (reportAfter!.stepTimes.p99Ms ?? NaN)).toFixed(2),
      ]);
    }
  }

  const what = sim ? `on the simulated ${opts.simProfile} (a measuring instrument), model ${simModel}` : url;
  console.log(`\nServing benchmark: ${opts.maxTokens}-token streamed completions (greedy, ignore_eos), ${what}\n`);
  console.log(table(['concurrency', 'requests', 'failed', 'output tok/s', 'TTFT p50 ms', 'TTFT p99 ms', 'ITL p50 ms', 'ITL p99 ms'], rows));
  console.log('\nCPU time per generated token, µs (process CPU of each service ÷ tokens), and engine step time per token:\n');
  console.log(table(['concurrency', 'api', 'tokenizer', 'scheduler', 'executor', 'engine steps'], hopRows));
  if (simRows.length > 0) {
    console.log('\nStack efficiency on the simulated device: modelled device busy time ÷ wall time (= stack tok/s ÷ the ideal tok/s of the');
    console.log('batches the stack formed); mean batch = tokens ÷ steps; modelled decode step at that batch and mean context, and the');
    console.log("executor's p99 step time over its recent steps (mixed prefill + decode steps included), vs measured ITL p99:\n");
    console.log(table(['concurrency', 'efficiency', 'stack tok/s', 'ideal tok/s', 'mean batch', 'decode step ms', 'ITL p99 ms', 'ITL p99 ÷ decode step', 'step p99 ms', 'ITL p99 ÷ step p99'], simRows));
  }
  await own?.stop();
}

await main();
