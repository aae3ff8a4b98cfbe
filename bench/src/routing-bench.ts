import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LLAMA_31_8B_DIMS, writeModelShape } from '@deepinfer/testing';
import { runClosedLoop } from './closed-loop.js';
import { markdownTable } from './report-table.js';
import { startStack } from './stack-process.js';

/**
 * KV-aware routing against round-robin over data-parallel replicas on the simulated GPU
 * (`device: sim`, Llama-3.1-8B's shape, step times of `--sim-profile`): a workload of many users
 * sharing a few system prompts, each user's turns sent one after another with the history
 * growing (a chat), `--concurrency` users at a time. Per replica count and policy: the prefix-cache
 * hit rate over every scheduler (/stats of each replica, admin port + 100 i), output and request
 * throughput, TTFT.
 *   node bench/dist/routing-bench.js [--replicas 8,16] [--policies kv,round_robin] [--users 96]
 *     [--system-prompts 8] [--turns 3] [--concurrency 48] [--max-tokens 32]
 */
const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const list = (k: string, d: string) => (args.get(k) ?? d).split(',');
const num = (k: string, d: number) => Number(args.get(k) ?? d);
const replicaCounts = list('replicas', '8,16').map(Number);
const policies = list('policies', 'kv,round_robin');
const numUsers = num('users', 96);
const numSystemPrompts = num('system-prompts', 8);
const numTurns = num('turns', 3);
const concurrency = num('concurrency', 48);
const maxTokens = num('max-tokens', 32);
const profile = args.get('sim-profile') ?? 'rtx5090';

const words = ['river', 'mountain', 'quantum', 'ledger', 'harbor', 'violet', 'engine', 'garden', 'signal', 'copper', 'lantern', 'meadow', 'orbit', 'canvas', 'thunder', 'pepper'];
const text = (seed: number, n: number) => Array.from({ length: n }, (_, i) => words[(seed * 31 + i * 7 + ((i * i) % 13)) % words.length]).join(' ');
/** ~1000-token system prompts, one per "application". */
const systemPrompts = Array.from({ length: numSystemPrompts }, (_, s) => `System prompt of application ${s}. ${text(s + 1, 700)}\n`);
/** Request r: user u's turn t, its history included. */
const requests: { prompt: string }[] = [];
for (let u = 0; u < numUsers; u++) {
  let history = systemPrompts[u % numSystemPrompts]!;
  for (let t = 0; t < numTurns; t++) {
    history += `User ${u} turn ${t}: ${text(u * 100 + t, 60)}\nAssistant: ${text(u * 100 + t + 50, 30)}\n`;
    requests.push({ prompt: history });
  }
}

const simModel = writeModelShape({ architecture: 'llama', dims: LLAMA_31_8B_DIMS, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-llama-3.1-8b-shape-')) });
const rows: string[][] = [];
for (const numReplicas of replicaCounts) {
  for (const policy of policies) {
    const stack = await startStack(
      ['--device', 'sim', '--sim-profile', profile, '--model', simModel, '--data-parallel-size', String(numReplicas), '--router', policy, '--max-num-seqs', '64', '--max-num-batched-tokens', '8192'],
      { timeoutMs: 300000 },
    );
    try {
      const ready = Date.now() + 120000;
      while ((((await (await fetch(`${stack.url}/health`)).json()) as { details: { replicas?: { status: string }[] } }).details.replicas ?? []).filter((r) => r.status === 'ok').length < numReplicas) {
        if (Date.now() > ready) throw new Error('replicas did not all become ready');
        await new Promise((r) => setTimeout(r, 250));
      }
      const statsOf = async () => Promise.all(Array.from({ length: numReplicas }, async (_, i) => ((await (await fetch(`http://127.0.0.1:${stack.adminPorts.scheduler + 100 * i}/stats`)).json()) as { scheduler: { prefixCache: { numQueryTokens: number; numHitTokens: number } } }).scheduler.prefixCache));
      const before = await statsOf();
      // Users in order: a client takes the next user and sends its turns one after another.
      let nextUser = 0;
      const order: number[] = [];
      const perClient = Array.from({ length: concurrency }, () => [] as number[]);
      while (nextUser < numUsers) for (let c = 0; c < concurrency && nextUser < numUsers; c++, nextUser++) for (let t = 0; t < numTurns; t++) perClient[c]!.push(nextUser * numTurns + t);
      for (const c of perClient) order.push(...c);
      // runClosedLoop hands out requests in index order; mapping each client to its own users keeps turns in sequence.
      const queues = perClient.map((c) => [...c]);
      let k = 0;
      const result = await runClosedLoop(stack.url, concurrency, requests.length, () => {
        // Round over clients that still have turns: each closed-loop worker stays on one client's queue.
        const q = queues[k++ % queues.length]!;
        const r = q.shift() ?? order.pop()!;
        return { model: path.basename(simModel), prompt: requests[r]!.prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true };
      });
      const after = await statsOf();
      const hits = after.reduce((n, s, i) => n + s.numHitTokens - before[i]!.numHitTokens, 0);
      const queries = after.reduce((n, s, i) => n + s.numQueryTokens - before[i]!.numQueryTokens, 0);
      rows.push([
        String(numReplicas), policy, String(requests.length), result.numFailed.toString(), `${((100 * hits) / queries).toFixed(1)} %`,
        (requests.length / result.wallS).toFixed(1), result.outputTokensPerS.toFixed(0), ((queries - hits) / result.wallS).toFixed(0), result.ttftMs.p50.toFixed(0), result.ttftMs.p99.toFixed(0),
      ]);
      process.stderr.write(`${numReplicas} replicas, ${policy}: done\n`);
    } finally {
      await stack.stop();
    }
  }
}
process.stdout.write(
  `routing: ${numUsers} users x ${numTurns} turns over ${numSystemPrompts} system prompts (~1000 tokens each, history growing ~120 tokens a turn), ` +
    `${concurrency} concurrent users, ${maxTokens} output tokens, device sim ${profile} (Llama-3.1-8B shape); ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}\n\n` +
    markdownTable(['replicas', 'router', 'requests', 'failed', 'prefix hit rate', 'req/s', 'output tok/s', 'prefill tok/s (uncached)', 'TTFT p50 ms', 'TTFT p99 ms'], rows) + '\n',
);
