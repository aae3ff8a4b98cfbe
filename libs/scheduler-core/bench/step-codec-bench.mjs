// The engine loop's message cost per step, besides schedule() + update() (scheduler-bench.mjs):
// what MessageBus does with the step and its result on the scheduler's side, and the batched
// outputs message. Build first, then run from the repository root:
//   (cd libs/contracts && npx tsc -p tsconfig.lib.json) && (cd libs/scheduler-core && npx tsc -p tsconfig.lib.json)
//   node libs/scheduler-core/bench/step-codec-bench.mjs [numRunning ...]
// Per step, timed separately:
//   encode step   JSON.stringify(SchedulerOutput) + TextEncoder (MessageBus.request)
//   decode result TextDecoder + JSON.parse of the reply envelope + StepResult.validate
//   encode outputs JSON.stringify(StepOutputsMessage) + TextEncoder (one tokenizer instance)
// and, for reference, the executor's side: decode + SchedulerOutput.validate of the step,
// encode of the reply envelope. Workload as in scheduler-bench.mjs (steady N running sequences,
// prompts 32–1,024 tokens, half with a shared 256–512-token system prompt, block size 16).
import { SchedulerOutput, StepResult } from '@deepinfer/contracts';
import { Scheduler } from '../dist/index.js';

const WARMUP_STEPS = 300;
const MEASURED_STEPS = 3000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const us = (t0, t1) => Number(t1 - t0) / 1000;

function runBench(numRunning, decodeHeavy) {
  const random = mulberry32(numRunning + (decodeHeavy ? 1 : 0));
  const int = (min, max) => min + Math.floor(random() * (max - min + 1));
  const pool = Array.from({ length: 1 << 20 }, () => int(0, 127999));
  const tokens = (n) => {
    const start = int(0, pool.length - n);
    return pool.slice(start, start + n);
  };
  const systemPrompts = Array.from({ length: 8 }, () => tokens(int(256, 512)));
  const scheduler = new Scheduler(
    { maxNumBatchedTokens: 8192, maxNumSeqs: numRunning, maxModelLen: 2048, enableChunkedPrefill: true, enablePrefixCaching: true, eosTokenIds: [128001, 128009], vocabSize: 128256, modelCacheKey: 'bench' },
    { numBlocks: Math.ceil((numRunning * 1400) / 16), blockSize: 16 },
  );
  let nextId = 0;
  const submitOne = () => {
    const shared = random() < 0.5 ? systemPrompts[int(0, 7)] : [];
    const promptTokenIds = shared.concat(tokens(int(32, 1024 - shared.length)));
    // Request ids as the api makes them (a UUID-sized string), since they dominate a decode step's bytes.
    const requestId = `cmpl-${(nextId++).toString(16).padStart(8, '0')}-4f1c-9a2e-${int(0, 0xffffff).toString(16).padStart(12, '0')}`;
    scheduler.submit({ requestId, promptTokenIds, samplingParams: { maxTokens: decodeHeavy ? int(900, 1000) : int(16, 256), temperature: 0.7, topP: 0.95 } });
  };
  for (let i = 0; i < numRunning; i++) submitOne();

  const numTokensById = new Map();
  const answer = (step) => {
    const sampled = [];
    for (const id of step.finishedRequestIds) numTokensById.delete(id);
    for (const r of step.newRequests) {
      numTokensById.set(r.requestId, r.promptTokenIds.length + r.outputTokenIds.length);
      if (r.numComputedTokens + r.numScheduledTokens === numTokensById.get(r.requestId)) sampled.push(r.requestId);
    }
    const c = step.cachedRequests;
    for (let i = 0; i < c.requestIds.length; i++) {
      if (c.numComputedTokens[i] + c.numScheduledTokens[i] === numTokensById.get(c.requestIds[i])) sampled.push(c.requestIds[i]);
    }
    return {
      stepId: step.stepId,
      sampled: sampled.map((requestId) => {
        numTokensById.set(requestId, numTokensById.get(requestId) + 1);
        return { requestId, tokenId: int(0, 127999) };
      }),
      executeTimeMs: 12.5,
    };
  };

  const rows = { encodeStep: [], decodeResult: [], encodeOutputs: [], loop: [], execDecode: [], execEncode: [] };
  let stepBytes = 0;
  let resultBytes = 0;
  let outputBytes = 0;
  let numSeqs = 0;
  for (let n = 0; n < WARMUP_STEPS + MEASURED_STEPS; n++) {
    const step = scheduler.schedule();
    const t0 = process.hrtime.bigint();
    const stepWire = encoder.encode(JSON.stringify(step));
    const t1 = process.hrtime.bigint();
    // Executor side (not the scheduler's cost).
    const received = SchedulerOutput.validate(JSON.parse(decoder.decode(stepWire)));
    const t2 = process.hrtime.bigint();
    const resultWire = encoder.encode(JSON.stringify({ ok: true, data: answer(received) }));
    const t3 = process.hrtime.bigint();
    const result = StepResult.validate(JSON.parse(decoder.decode(resultWire)).data);
    const t4 = process.hrtime.bigint();
    const outputs = scheduler.update(result);
    const t5 = process.hrtime.bigint();
    const outputsWire = encoder.encode(JSON.stringify(outputs));
    const t6 = process.hrtime.bigint();
    let numFinished = 0;
    for (const o of outputs.outputs) if (o.finishReason !== undefined) numFinished++;
    for (let i = 0; i < numFinished; i++) submitOne();
    if (n >= WARMUP_STEPS) {
      rows.encodeStep.push(us(t0, t1));
      rows.execDecode.push(us(t1, t2));
      rows.execEncode.push(us(t2, t3));
      rows.decodeResult.push(us(t3, t4));
      rows.encodeOutputs.push(us(t5, t6));
      rows.loop.push(us(t0, t1) + us(t3, t4) + us(t5, t6));
      stepBytes += stepWire.length;
      resultBytes += resultWire.length;
      outputBytes += outputsWire.length;
      numSeqs += step.newRequests.length + step.cachedRequests.requestIds.length;
    }
  }
  for (const list of Object.values(rows)) list.sort((a, b) => a - b);
  const pp = (list) => `${percentile(list, 50).toFixed(0)} / ${percentile(list, 99).toFixed(0)}`;
  const kb = (bytes) => (bytes / MEASURED_STEPS / 1024).toFixed(1);
  return `| ${numRunning}${decodeHeavy ? ' (decode-heavy)' : ''} | ${(numSeqs / MEASURED_STEPS).toFixed(0)} | ${kb(stepBytes)} / ${kb(resultBytes)} / ${kb(outputBytes)} | ${pp(rows.encodeStep)} | ${pp(rows.decodeResult)} | ${pp(rows.encodeOutputs)} | **${pp(rows.loop)}** | ${pp(rows.execDecode)} / ${pp(rows.execEncode)} |`;
}

const sizes = process.argv.slice(2).map(Number);
const plan = sizes.length > 0 ? sizes.map((n) => [n, false]) : [[256, false], [256, true]];
console.log(`node ${process.version}, ${WARMUP_STEPS} warm-up + ${MEASURED_STEPS} measured steps each; times µs p50 / p99`);
console.log('| running seqs | seqs/step | KiB step / result / outputs | encode step | decode result | encode outputs | loop total | executor: decode step / encode result |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [n, heavy] of plan) console.log(runBench(n, heavy));
