// The whole stack against the engine alone, on one machine: what tools/gpu-stack-check.sh runs
// (on a GPU machine with device cuda, and on any machine with device cpu as its rehearsal).
//
//   node bench/dist/stack-check.js write-model --shape llama-3.1-8b|small --dir DIR
//   node bench/dist/stack-check.js run --model DIR --out DIR [--concurrency 1,32,128,256]
//       [--prompt-tokens 256] [--max-tokens 128] [--requests-per-client 2] [--greedy-tokens 32]
//       -- <settings flags, as `deepinfer serve` takes them: --device cuda --max-num-seqs 256 …>
//
// write-model: a random-weight Llama 3.1 model (bf16 safetensors, the Llama 3 tokenizer) of the
// 8B shape or of a small one, written piece by piece (16 GB for the 8B shape).
//
// run, in this order (one model in device memory at a time):
//  1. the engine alone, in this process, with the same settings (loadConfig of the same flags,
//     engineOptionsFor): a greedy completion of one prompt, then per concurrency level the
//     benchmark's workload (N sequences in flight, prompts of --prompt-tokens random ids, each
//     generating --max-tokens) driven by a loop that batches like the scheduler;
//  2. `deepinfer serve` with those flags: the same greedy completion through /v1/completions
//     (return_token_ids), which must give the same ids, then the same workload from N streaming
//     clients;
//  3. GET /executor: device memory, KV cache, backend choices, CUDA graphs captured.
// Prints per level stack tok/s ÷ engine tok/s with TTFT/ITL percentiles, and writes
// stack-check.json and stack-check-summary.md to --out. Exit status 1 when the greedy ids differ
// or a request failed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, parseConfigArgs, type DeepInferConfig } from '@deepinfer/config';
import { cpuKvCacheBlocks, engineOptionsFor, generate, loadEngine, type Engine, type EngineBackend } from '@deepinfer/engine';
import { HF_MODEL_FAMILIES, LLAMA_31_8B_DIMS, SeededRandom, SMALL_MODEL_DIMS, writeRandomModel, type RandomModelDims } from '@deepinfer/testing';
import { runClosedLoop, type ClosedLoopResult } from './closed-loop.js';
import { runEngineAlone, type EngineAloneResult } from './engine-alone.js';
import { markdownTable } from './report-table.js';
import { startStack } from './stack-process.js';

const SHAPES: Record<string, { dims: RandomModelDims; numShards: number }> = {
  // meta-llama/Llama-3.1-8B-Instruct ships 4 shards.
  'llama-3.1-8b': { dims: LLAMA_31_8B_DIMS, numShards: 4 },
  small: { dims: SMALL_MODEL_DIMS, numShards: 2 },
};

interface RunOptions {
  model: string;
  out: string;
  concurrency: number[];
  promptTokens: number;
  maxTokens: number;
  requestsPerClient: number;
  greedyTokens: number;
  settingsArgs: string[];
}

interface LevelResult {
  concurrency: number;
  numRequests: number;
  engine: EngineAloneResult;
  stack: Omit<ClosedLoopResult, 'timings' | 'tokensByRequest'>;
  ratio: number;
}

const log = (message: string) => process.stderr.write(`[stack-check ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

function parseRunArgs(argv: string[]): RunOptions {
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const opts: RunOptions = { model: '', out: '', concurrency: [1, 32, 128, 256], promptTokens: 256, maxTokens: 128, requestsPerClient: 2, greedyTokens: 32, settingsArgs: dash >= 0 ? argv.slice(dash + 1) : [] };
  for (let i = 0; i < own.length; i += 2) {
    const [flag, value] = [own[i]!, own[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--model') opts.model = path.resolve(value);
    else if (flag === '--out') opts.out = path.resolve(value);
    else if (flag === '--concurrency') opts.concurrency = value.split(',').map(Number);
    else if (flag === '--prompt-tokens') opts.promptTokens = Number(value);
    else if (flag === '--max-tokens') opts.maxTokens = Number(value);
    else if (flag === '--requests-per-client') opts.requestsPerClient = Number(value);
    else if (flag === '--greedy-tokens') opts.greedyTokens = Number(value);
    else throw new Error(`unknown option ${flag} (settings for the engine and the stack go after --)`);
  }
  if (!opts.model || !opts.out) throw new Error('run needs --model DIR and --out DIR');
  return opts;
}

/** Distinct prompts of random ordinary token ids (no special tokens), fixed by the seed. */
function randomPrompts(count: number, length: number, seed: number): Int32Array[] {
  // Llama 3's ordinary tokens are 0..127999; stay clear of both ends.
  const random = new SeededRandom(seed);
  return Array.from({ length: count }, () => Int32Array.from({ length }, () => 100 + Math.floor(random.next() * 120000)));
}

function backendOf(config: DeepInferConfig): EngineBackend {
  if (config.device !== 'cpu' && config.device !== 'cuda') throw new Error(`the stack check compares the native engine: pass --device cpu or --device cuda (got ${config.device})`);
  return config.device;
}

async function engineAlone(config: DeepInferConfig, opts: RunOptions, promptsOf: (level: number) => Int32Array[]): Promise<{ greedy: number[]; levels: EngineAloneResult[]; info: Engine['info'] }> {
  const backend = backendOf(config);
  const numKvBlocks = backend === 'cpu' ? cpuKvCacheBlocks({ model: opts.model, blockSize: config.blockSize, cpuKvCacheSpaceGib: config.cpuKvCacheSpaceGib }) : undefined;
  log(`engine alone: loading ${opts.model} (${backend})`);
  const started = performance.now();
  const engine = await loadEngine(engineOptionsFor(config, opts.model, backend, numKvBlocks));
  log(`engine alone: loaded in ${((performance.now() - started) / 1000).toFixed(1)} s: ${engine.info.backend}, ${engine.info.numKvBlocks} KV blocks`);
  try {
    const greedy: number[] = [];
    const tokens = generate(engine, { promptTokenIds: Array.from(promptsOf(-1)[0]!), maxTokens: opts.greedyTokens, stopTokenIds: [] });
    for await (const token of tokens) greedy.push(token.tokenId);
    const levels: EngineAloneResult[] = [];
    for (const [level, concurrency] of opts.concurrency.entries()) {
      const workload = { concurrency, prompts: promptsOf(level), maxTokens: opts.maxTokens, maxNumBatchedTokens: config.maxNumBatchedTokens };
      // A short wave first: kernels, cuBLAS handles and this batch size's CUDA graphs set up.
      await runEngineAlone(engine, { ...workload, numRequests: concurrency, maxTokens: 4, prompts: promptsOf(1000 + level) });
      const result = await runEngineAlone(engine, { ...workload, numRequests: concurrency * opts.requestsPerClient });
      log(`engine alone: concurrency ${concurrency}: ${result.outputTokensPerS.toFixed(0)} tok/s (${result.numSteps} steps)`);
      levels.push(result);
    }
    return { greedy, levels, info: engine.info };
  } finally {
    engine.close();
  }
}

async function run(opts: RunOptions): Promise<number> {
  fs.mkdirSync(opts.out, { recursive: true });
  const { configFile, flags } = parseConfigArgs(opts.settingsArgs);
  const config = loadConfig({ configFile, flags }).config;
  // Level l's prompts: distinct from every other level's and from the warm-up's, so the stack's
  // prefix cache (which the engine alone does not have) never serves one of them.
  const maxRequests = Math.max(...opts.concurrency) * opts.requestsPerClient;
  const promptsOf = (level: number) => randomPrompts(level === -1 ? 1 : maxRequests, opts.promptTokens, 7919 * (level + 2));

  const alone = await engineAlone(config, opts, promptsOf);

  const stack = await startStack(['--model', opts.model, ...opts.settingsArgs], { timeoutMs: 600_000 });
  const levels: LevelResult[] = [];
  let stackGreedy: number[] = [];
  let executor: Record<string, unknown>;
  try {
    log(`stack: serving at ${stack.url}`);
    const greedyResponse = await fetch(`${stack.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: Array.from(promptsOf(-1)[0]!), max_tokens: opts.greedyTokens, temperature: 0, ignore_eos: true, return_token_ids: true }),
    });
    const greedyBody = (await greedyResponse.json()) as { choices?: { token_ids: number[] }[]; error?: unknown };
    if (!greedyResponse.ok) throw new Error(`greedy completion through the stack failed: ${greedyResponse.status} ${JSON.stringify(greedyBody)}`);
    stackGreedy = greedyBody.choices![0]!.token_ids;
    for (const [level, concurrency] of opts.concurrency.entries()) {
      const bodyOf = (prompts: Int32Array[], maxTokens: number) => (i: number) => ({ prompt: Array.from(prompts[i % prompts.length]!), max_tokens: maxTokens, temperature: 0, ignore_eos: true });
      await runClosedLoop(stack.url, concurrency, concurrency, bodyOf(promptsOf(1000 + level), 4));
      const numRequests = concurrency * opts.requestsPerClient;
      const { timings: _timings, tokensByRequest: _tokens, ...result } = await runClosedLoop(stack.url, concurrency, numRequests, bodyOf(promptsOf(level), opts.maxTokens));
      const engine = alone.levels[level]!;
      levels.push({ concurrency, numRequests, engine, stack: result, ratio: result.outputTokensPerS / engine.outputTokensPerS });
      log(`stack: concurrency ${concurrency}: ${result.outputTokensPerS.toFixed(0)} tok/s, ${result.numFailed} failed`);
    }
    executor = (await (await fetch(`http://127.0.0.1:${stack.adminPorts.executor}/executor`)).json()) as Record<string, unknown>;
  } finally {
    await stack.stop();
  }

  const firstMismatch = alone.greedy.findIndex((id, i) => stackGreedy[i] !== id);
  const greedyMatch = firstMismatch === -1 && stackGreedy.length === alone.greedy.length;
  const failed = levels.reduce((n, l) => n + l.stack.numFailed, 0);
  const summary = summarize(opts, config, alone, levels, executor, { greedyMatch, firstMismatch, stackGreedy });
  fs.writeFileSync(path.join(opts.out, 'stack-check-summary.md'), summary);
  fs.writeFileSync(
    path.join(opts.out, 'stack-check.json'),
    JSON.stringify({ date: new Date().toISOString(), host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model }, options: opts, greedy: { engine: alone.greedy, stack: stackGreedy, match: greedyMatch }, levels, executor }, null, 2),
  );
  process.stdout.write(summary);
  return greedyMatch && failed === 0 ? 0 : 1;
}

function summarize(
  opts: RunOptions,
  config: DeepInferConfig,
  alone: { greedy: number[]; info: Engine['info'] },
  levels: LevelResult[],
  executor: Record<string, unknown>,
  greedy: { greedyMatch: boolean; firstMismatch: number; stackGreedy: number[] },
): string {
  const gib = (bytes: unknown) => (typeof bytes === 'number' ? (bytes / 2 ** 30).toFixed(2) : '?');
  const memory = (executor['memory'] ?? {}) as Record<string, number>;
  const kv = (executor['kvCache'] ?? {}) as Record<string, number | string>;
  const steps = (executor['stepTimes'] ?? {}) as Record<string, number | null>;
  const info = alone.info;
  const lines = [
    `# Stack check: ${info.architecture} ${info.numLayers} layers, hidden ${info.hiddenSize}, vocab ${info.vocabSize}, ${info.dtype}, device ${config.device} (${info.backend}${info.deviceName ? `, ${info.deviceName}` : ''})`,
    '',
    `Workload: per level N streaming clients (N sequences in flight), ${opts.requestsPerClient} requests each, prompts of ${opts.promptTokens} random token ids (distinct: no prefix-cache hits), ${opts.maxTokens} output tokens each (greedy, ignore_eos); settings: ${opts.settingsArgs.join(' ') || '(defaults)'}.`,
    '',
    `Greedy ${opts.greedyTokens} tokens, engine alone vs through the stack: ${greedy.greedyMatch ? 'identical' : `DIFFERENT (first at token ${greedy.firstMismatch}: engine ${alone.greedy.slice(0, 8).join(',')}… stack ${greedy.stackGreedy.slice(0, 8).join(',')}…)`}`,
    '',
    markdownTable(
      ['concurrency', 'requests', 'failed', 'engine tok/s', 'stack tok/s', 'stack ÷ engine', 'TTFT p50 ms', 'TTFT p99 ms', 'ITL p50 ms', 'ITL p99 ms'],
      levels.map((l) => [
        String(l.concurrency), String(l.numRequests), String(l.stack.numFailed), l.engine.outputTokensPerS.toFixed(0), l.stack.outputTokensPerS.toFixed(0), l.ratio.toFixed(3),
        l.stack.ttftMs.p50.toFixed(1), l.stack.ttftMs.p99.toFixed(1), l.stack.itlMs.p50.toFixed(2), l.stack.itlMs.p99.toFixed(2),
      ]),
    ),
    '',
    `Executor (GET /executor after the run): device ${String(executor['device'])}; weights ${gib(memory['weightsBytes'])} GiB, KV cache ${gib(memory['kvCacheBytes'])} GiB ` +
      `(${String(kv['numBlocks'])} blocks of ${String(kv['blockSize'])} tokens, ${String(kv['dtype'])}); ` +
      (memory['deviceTotalBytes'] ? `device memory free ${gib(memory['deviceFreeBytes'])} of ${gib(memory['deviceTotalBytes'])} GiB at load; ` : '') +
      `CUDA graphs captured: ${String(executor['cudaGraphsCaptured'])}; backend: ${String(executor['backendDetails'] ?? '-')}; ` +
      `recent step times p50 ${String(steps['p50Ms'])} ms, p99 ${String(steps['p99Ms'])} ms.`,
    '',
  ];
  return lines.join('\n');
}

async function writeModel(argv: string[]): Promise<void> {
  const shape = argv[argv.indexOf('--shape') + 1] ?? '';
  const dir = argv[argv.indexOf('--dir') + 1];
  if (!SHAPES[shape] || !dir || argv.indexOf('--dir') < 0) throw new Error(`write-model needs --shape ${Object.keys(SHAPES).join('|')} and --dir DIR`);
  const { dims, numShards } = SHAPES[shape];
  log(`writing a random-weight ${shape} Llama 3.1 model (bf16, ${HF_MODEL_FAMILIES.llama.tokenizerPackage} tokenizer) to ${dir}`);
  const started = performance.now();
  const model = writeRandomModel({
    architecture: 'llama', directory: dir, dims, numShards,
    onShardWritten: (file, i, n) => log(`  ${file} (${i + 1}/${n}) after ${((performance.now() - started) / 1000).toFixed(1)} s`),
  });
  log(`wrote ${(model.totalSizeBytes / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'write-model') await writeModel(rest);
else if (command === 'run') process.exitCode = await run(parseRunArgs(rest));
else {
  process.stderr.write('usage: stack-check.js write-model --shape llama-3.1-8b|small --dir DIR | run --model DIR --out DIR [options] -- <settings flags>\n');
  process.exitCode = 2;
}
