// The simulated device's timer error on this machine (the simulator is a measuring instrument;
// this measures the instrument itself):
//
//   node libs/sim-device/dist/tools/timer-accuracy.cli.js [numSleeps=300] [minMs=1] [maxMs=10]
import { measureTimerAccuracy } from '../clock/timer-accuracy.js';

const [numSleeps = 300, minMs = 1, maxMs = 10] = process.argv.slice(2).map(Number);
const a = await measureTimerAccuracy({ numSleeps, minMs, maxMs });
const ms = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(3)} ms`;
console.log(`${a.numSleeps} sleeps of ${minMs}–${maxMs} ms (elapsed − requested, as the caller sees it)`);
console.log(`mean ${ms(a.meanErrorMs)}   mean |error| ${a.meanAbsErrorMs.toFixed(3)} ms   p50 ${ms(a.p50ErrorMs)}   p99 ${ms(a.p99ErrorMs)}   min ${ms(a.minErrorMs)}   max ${ms(a.maxErrorMs)}   learned lead ${a.leadMs.toFixed(3)} ms`);
