// Serving benchmark: N concurrent streaming clients against a DeepInfer stack.
//
//   npm run build && node bench/dist/serving-bench.js [--url http://127.0.0.1:8000]
//       [--concurrency 1,8,32,64] [--max-tokens 128] [--requests N]
//
// Without --url it starts its own stack (`deepinfer serve` on free ports) and stops it after.
// Prints, per concurrency: aggregate output tokens/s, TTFT and inter-token latency p50/p99,
// failed requests; and the CPU cost per generated token of each service (from each service's
// own process CPU counter) plus the executor's engine time per token.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFreePort, waitFor } from '@deepinfer/testing';
import { delta, scrape } from './metrics-scrape.js';
import { streamCompletion, type StreamTiming } from './sse-client.js';

const SERVICES = ['api', 'tokenizer', 'scheduler', 'executor'] as const;
type Service = (typeof SERVICES)[number];

interface Options {
  url?: string;
  concurrency: number[];
  maxTokens: number;
  requests?: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { concurrency: [1, 8, 32, 64], maxTokens: 128 };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--url') opts.url = value;
    else if (argv[i] === '--concurrency') opts.concurrency = value!.split(',').map(Number);
    else if (argv[i] === '--max-tokens') opts.maxTokens = Number(value);
    else if (argv[i] === '--requests') opts.requests = Number(value);
    else continue;
    i++;
  }
  return opts;
}

const percentile = (values: number[], q: number) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

async function startStack(): Promise<{ url: string; adminPorts: Record<Service, number>; child: ChildProcess }> {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const port = await getFreePort();
  const nats = await getFreePort();
  const adminPorts = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await getFreePort()]))) as Record<Service, number>;
  const args = [path.join(repo, 'bin/deepinfer.js'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--nats-url', `nats://127.0.0.1:${nats}`, '--log-level', 'warn', ...SERVICES.flatMap((s) => [`--${s}-admin-port`, String(adminPorts[s])])];
  const child = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  process.stderr.write('starting the stack…\n');
  await waitFor('the stack', async () => (await fetch(`${url}/health`).catch(() => undefined))?.status === 200, 120000, 250);
  return { url, adminPorts, child };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const own = opts.url ? undefined : await startStack();
  const url = opts.url ?? own!.url;
  const adminPorts = own?.adminPorts ?? { api: 9100, tokenizer: 9101, scheduler: 9102, executor: 9103 };
  const metricsOf = (s: Service) => scrape(`http://127.0.0.1:${adminPorts[s]}/metrics`);
  const prompts = Array.from({ length: 256 }, (_, i) => `Once upon a time, there was a ${['little', 'big', 'happy', 'sad'][i % 4]} ${['girl', 'boy', 'dog', 'cat'][Math.floor(i / 4) % 4]} number ${i}`);

  // Warm-up: first requests pay for lazy initialisation everywhere.
  await Promise.all(prompts.slice(0, 4).map((prompt) => streamCompletion(url, { prompt, max_tokens: 16, temperature: 0 })));

  const rows: string[][] = [];
  const hopRows: string[][] = [];
  for (const concurrency of opts.concurrency) {
    const numRequests = opts.requests ?? Math.max(8, concurrency * 2);
    process.stderr.write(`concurrency ${concurrency}: ${numRequests} requests of ${opts.maxTokens} tokens…\n`);
    const before = await Promise.all(SERVICES.map(metricsOf));
    const timings: StreamTiming[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < numRequests) {
          const i = next++;
          timings.push(await streamCompletion(url, { prompt: prompts[i % prompts.length], max_tokens: opts.maxTokens, temperature: 0, ignore_eos: true }));
        }
      }),
    );
    const wallS = (performance.now() - started) / 1000;
    const after = await Promise.all(SERVICES.map(metricsOf));
    const ok = timings.filter((t) => t.ok);
    const tokens = ok.reduce((n, t) => n + t.numTokens, 0);
    const itl = ok.flatMap((t) => t.interTokenMs);
    const ttft = ok.map((t) => t.ttftMs);
    rows.push([String(concurrency), String(numRequests), String(timings.length - ok.length), (tokens / wallS).toFixed(0), percentile(ttft, 0.5).toFixed(1), percentile(ttft, 0.99).toFixed(1), percentile(itl, 0.5).toFixed(2), percentile(itl, 0.99).toFixed(2)]);
    const cpuUsPerToken = SERVICES.map((_, i) => (delta(before[i]!, after[i]!, 'deepinfer_process_cpu_seconds_total') / tokens) * 1e6);
    const engineUsPerToken = (delta(before[3]!, after[3]!, 'deepinfer_executor_step_duration_seconds_sum') / tokens) * 1e6;
    hopRows.push([String(concurrency), ...cpuUsPerToken.map((v) => v.toFixed(0)), engineUsPerToken.toFixed(0)]);
  }

  const table = (head: string[], body: string[][]) => {
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
    return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
  };
  console.log(`\nServing benchmark: ${opts.maxTokens}-token streamed completions (greedy, ignore_eos), ${url}\n`);
  console.log(table(['concurrency', 'requests', 'failed', 'output tok/s', 'TTFT p50 ms', 'TTFT p99 ms', 'ITL p50 ms', 'ITL p99 ms'], rows));
  console.log('\nCPU time per generated token, µs (process CPU of each service ÷ tokens), and engine step time per token:\n');
  console.log(table(['concurrency', 'api', 'tokenizer', 'scheduler', 'executor', 'engine steps'], hopRows));
  if (own) {
    own.child.kill('SIGINT');
    await new Promise((r) => own.child.once('exit', r));
  }
}

await main();
