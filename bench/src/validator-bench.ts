/**
 * The hot-path message validators (compiled from their TypeBox definitions), one message of a full step (256 sequences) at a time: how
 * long a receiving boundary spends checking it (after JSON.parse, which is not measured here).
 *
 *   npm run build && node bench/dist/validator-bench.js
 */
import { DeltaBatchMessage, SchedulerOutput, StepOutputsMessage, StepResult, type Message } from '@deepinfer/contracts';
import { deltaBatch256, schedulerOutput256, stepOutputs256, stepResult256 } from '@deepinfer/contracts/testing';
import { markdownTable, percentile } from './report-table.js';

interface Case {
  name: string;
  validator: Message<unknown>;
  message: object;
}

const cases: Case[] = [
  { name: 'SchedulerOutput (256 seqs)', validator: SchedulerOutput, message: schedulerOutput256() },
  { name: 'StepResult (256 sampled)', validator: StepResult, message: stepResult256() },
  { name: 'StepOutputsMessage (256 outputs)', validator: StepOutputsMessage, message: stepOutputs256() },
  { name: 'DeltaBatchMessage (256 deltas)', validator: DeltaBatchMessage, message: deltaBatch256() },
];

/** µs per validation: the median of 15 rounds of `iterations` calls, after a warm-up. */
function measure(c: Case, iterations: number): { p50: number; min: number } {
  // A fresh parse per round would dominate; validators must not mutate, so one object is reused.
  const json = JSON.stringify(c.message);
  const msg = JSON.parse(json) as unknown;
  for (let i = 0; i < iterations; i++) c.validator.validate(msg);
  const rounds: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) c.validator.validate(msg);
    rounds.push(Number(process.hrtime.bigint() - t0) / 1000 / iterations);
  }
  return { p50: percentile(rounds, 0.5), min: Math.min(...rounds) };
}

const rows = cases.map((c) => {
  const json = JSON.stringify(c.message);
  const parse = (() => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) JSON.parse(json);
    return Number(process.hrtime.bigint() - t0) / 1000 / 200;
  })();
  const { p50, min } = measure(c, 2000);
  return [c.name, String(json.length), p50.toFixed(2), min.toFixed(2), parse.toFixed(1)];
});
console.log('\nHot-path validators: µs per message (median and best of 15 rounds of 2,000), JSON.parse of the same message for scale\n');
console.log(markdownTable(['message', 'JSON bytes', 'validate p50 µs', 'validate min µs', 'JSON.parse µs'], rows));
