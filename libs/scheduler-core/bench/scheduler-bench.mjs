// Scheduling cost per step: schedule() + update(), everything but the executor, at a steady
// number of running sequences. Build first, then run from the repository root:
//   (cd libs/scheduler-core && npx tsc -p tsconfig.lib.json)
//   node libs/scheduler-core/bench/scheduler-bench.mjs [numRunning ...]
// The "executor" here only answers the step (it knows which requests are due a token); its time
// is not counted. Workload: prompts of 32–1,024 tokens, half of them starting with one of 8
// shared system prompts (256–512 tokens), 16–256 output tokens; a finished request is replaced
// at once, so the number of live sequences stays at N. Block size 16, chunked prefill, prefix
// caching on, KV large enough that nothing is preempted.
import { Scheduler } from '../dist/index.js';

const BLOCK_SIZE = 16;
const WARMUP_STEPS = 300;
const MEASURED_STEPS = 3000;

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

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function runBench(numRunning, decodeHeavy) {
  const random = mulberry32(numRunning);
  const int = (min, max) => min + Math.floor(random() * (max - min + 1));
  // Prompts are slices of one random pool, so that making them costs the timed code little GC.
  const pool = Array.from({ length: 1 << 20 }, () => int(0, 127999));
  const tokens = (n) => {
    const start = int(0, pool.length - n);
    return pool.slice(start, start + n);
  };
  const systemPrompts = Array.from({ length: 8 }, () => tokens(int(256, 512)));
  const scheduler = new Scheduler(
    {
      maxNumBatchedTokens: 8192,
      maxNumSeqs: numRunning,
      maxModelLen: 2048,
      enableChunkedPrefill: true,
      enablePrefixCaching: true,
      eosTokenIds: [128001, 128009],
      modelCacheKey: 'bench-model@rev',
    },
    { numBlocks: Math.ceil((numRunning * 1400) / BLOCK_SIZE), blockSize: BLOCK_SIZE },
  );
  let nextId = 0;
  const submitOne = () => {
    const shared = random() < 0.5 ? systemPrompts[int(0, 7)] : [];
    const promptTokenIds = shared.concat(tokens(int(32, 1024 - shared.length)));
    const accepted = scheduler.submit({ requestId: `req-${nextId++}`, promptTokenIds, samplingParams: { maxTokens: decodeHeavy ? int(900, 1000) : int(16, 256) } });
    if (!accepted.accepted) throw new Error(accepted.message);
  };
  for (let i = 0; i < numRunning; i++) submitOne();

  // The stand-in executor's view: tokens known per request.
  const numTokensById = new Map();
  const numComputedById = new Map();
  const answer = (step) => {
    const sampled = [];
    for (const id of step.finishedRequestIds) numTokensById.delete(id);
    for (const r of step.newRequests) {
      numTokensById.set(r.requestId, r.promptTokenIds.length + r.outputTokenIds.length);
      const end = r.numComputedTokens + r.numScheduledTokens;
      numComputedById.set(r.requestId, end);
      if (end === numTokensById.get(r.requestId)) sampled.push(r.requestId);
    }
    const cached = step.cachedRequests;
    for (let i = 0; i < cached.requestIds.length; i++) {
      const end = cached.numComputedTokens[i] + cached.numScheduledTokens[i];
      if (end === numTokensById.get(cached.requestIds[i])) sampled.push(cached.requestIds[i]);
    }
    return {
      stepId: step.stepId,
      sampled: sampled.map((requestId) => {
        numTokensById.set(requestId, numTokensById.get(requestId) + 1);
        return { requestId, tokenId: int(0, 127999) };
      }),
    };
  };

  const totals = [];
  const scheduleTimes = [];
  const updateTimes = [];
  let numSeqsSum = 0;
  let numTokensSum = 0;
  for (let n = 0; n < WARMUP_STEPS + MEASURED_STEPS; n++) {
    const t0 = process.hrtime.bigint();
    const step = scheduler.schedule();
    const t1 = process.hrtime.bigint();
    const result = answer(step);
    const t2 = process.hrtime.bigint();
    const outputs = scheduler.update(result);
    const t3 = process.hrtime.bigint();
    let numFinished = 0;
    for (const output of outputs.outputs) if (output.finishReason !== undefined) numFinished++;
    for (let i = 0; i < numFinished; i++) submitOne();
    if (n >= WARMUP_STEPS) {
      const scheduleUs = Number(t1 - t0) / 1000;
      const updateUs = Number(t3 - t2) / 1000;
      scheduleTimes.push(scheduleUs);
      updateTimes.push(updateUs);
      totals.push(scheduleUs + updateUs);
      numSeqsSum += step.newRequests.length + step.cachedRequests.requestIds.length;
      numTokensSum += step.totalNumScheduledTokens;
    }
  }
  const stats = scheduler.stats();
  for (const list of [totals, scheduleTimes, updateTimes]) list.sort((a, b) => a - b);
  return {
    numRunning: `${numRunning}${decodeHeavy ? ' (decode-heavy)' : ''}`,
    meanSeqs: numSeqsSum / MEASURED_STEPS,
    meanTokens: numTokensSum / MEASURED_STEPS,
    p50: percentile(totals, 50),
    p99: percentile(totals, 99),
    scheduleP50: percentile(scheduleTimes, 50),
    updateP50: percentile(updateTimes, 50),
    hitRate: stats.prefixCache.hitRate,
    preemptions: stats.numPreemptionsTotal,
  };
}

/** Jitter of this machine: p50/p99 of a fixed ~50 µs busy loop, timed the same way. */
function noiseFloor() {
  const times = [];
  let sink = 0;
  for (let n = 0; n < 3000; n++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 100_000; i++) sink = (sink + Math.imul(i, 2654435761)) | 0;
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), sink };
}

const sizes = process.argv.slice(2).map(Number);
const rows = (sizes.length > 0 ? sizes : [64, 256, 512]).map((n) => runBench(n, false));
if (sizes.length === 0) rows.push(runBench(512, true));
const noise = noiseFloor();
console.log(`node ${process.version}, ${WARMUP_STEPS} warm-up + ${MEASURED_STEPS} measured steps each`);
console.log('| running seqs | seqs/step (mean) | tokens/step (mean) | p50 µs/step | p99 µs/step | schedule p50 µs | update p50 µs | prefix hit rate |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(
    `| ${r.numRunning} | ${r.meanSeqs.toFixed(0)} | ${r.meanTokens.toFixed(0)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.scheduleP50.toFixed(0)} | ${r.updateP50.toFixed(0)} | ${(r.hitRate * 100).toFixed(1)}% |`,
  );
}
console.log(`noise floor (fixed busy loop): p50 ${noise.p50.toFixed(0)} µs, p99 ${noise.p99.toFixed(0)} µs (p99/p50 = ${(noise.p99 / noise.p50).toFixed(1)})`);
