import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GuidedDecoding } from '@deepinfer/contracts';
import { GrammarCompileError, GuidedGrammars, vocabularyFromTokenizerJson } from '../grammar.js';
import { prepareJsonSchema } from '../json-schema-check.js';
import { randomWalk, textOfIds } from '../testing.js';
import { GuideWorkerPool, type PooledGuide } from './guide-worker-pool.js';

const root = path.resolve(import.meta.dirname, '../../../..');
const tokenizerJsonPath = path.join(root, 'models/stories260k/tokenizer.json');
const vocab = vocabularyFromTokenizerJson(JSON.parse(readFileSync(tokenizerJsonPath, 'utf8')), 512);
const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 8 }, age: { type: 'integer', minimum: 1, maximum: 99 } }, required: ['name', 'age'], additionalProperties: false };
const spec: GuidedDecoding = { kind: 'json_schema', schema: prepareJsonSchema(schema, 'schema'), strict: true };

/** `n` optional bounded strings: seconds of compilation for this vocabulary (0.8–2 s measured on the 2-core VM). */
const slowSpec = (name: string, n = 60): GuidedDecoding => ({
  kind: 'json_schema',
  schema: prepareJsonSchema({ type: 'object', properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`${name}_${i}`, { type: 'string', maxLength: 30 + i }])), additionalProperties: false }, name),
  strict: true,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `probe` holds (polling), or fails naming `what`. */
async function until(what: string, probe: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Asks `guide` for masks one after another while `compile` runs: how many came back before it
 * finished, the slowest of them (ms), and how long the compile took (ms).
 */
async function masksDuring(guide: PooledGuide, compile: () => Promise<void>): Promise<{ numMasks: number; slowestMs: number; compileMs: number }> {
  const started = performance.now();
  let done = false;
  const compiled = compile().finally(() => (done = true));
  let numMasks = 0;
  let slowestMs = 0;
  while (!done) {
    const asked = performance.now();
    await guide.nextMask();
    if (done) break; // this one may have waited for the compile
    numMasks++;
    slowestMs = Math.max(slowestMs, performance.now() - asked);
  }
  await compiled;
  return { numMasks, slowestMs, compileMs: performance.now() - started };
}

describe('GuideWorkerPool (matchers on worker threads, masks in shared buffers)', () => {
  let pool: GuideWorkerPool;
  let local: GuidedGrammars;
  beforeAll(async () => {
    pool = new GuideWorkerPool({ numWorkers: 2, tokenizerJsonPath, vocabSize: 512, stopTokenIds: [2] });
    local = await GuidedGrammars.create(vocab, [2]);
  });
  afterAll(async () => {
    local.dispose();
    await pool.close();
  });

  it('gives the same masks as a matcher on the main thread, places a spec on the worker holding its grammar, and batches a turn\'s masks', async () => {
    const [a, b] = [await pool.guide(spec), await pool.guide(spec)];
    expect(pool.load).toEqual([2, 0]); // the second one where the grammar is compiled
    for (const seed of [1, 2]) {
      const here = await randomWalk(await local.matcher(spec), [2], seed);
      const there = await randomWalk(seed === 1 ? a : b, [2], seed);
      expect(there.ids).toEqual(here.ids);
      expect(there.stopped).toBe(true);
      const value = JSON.parse(textOfIds(vocab, there.ids)) as { name: string; age: number };
      expect(value.age).toBeGreaterThanOrEqual(1);
      expect(a.lastMaskMs).toBeGreaterThanOrEqual(0);
    }
    // Two guides on one worker asked in the same turn: one message, two masks side by side.
    const c = await pool.guide(spec);
    const d = await pool.guide(spec);
    const [mc, md] = await Promise.all([c.nextMask(), d.nextMask()]);
    expect(mc.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Array.from(mc)).toEqual(Array.from(md));
    expect(Array.from(mc)).toEqual(Array.from(await (await local.matcher(spec)).nextMask()));
    for (const g of [a, b, c, d]) g.dispose();
    expect(pool.load).toEqual([0, 0]);
  });

  it('prepare compiles a spec on an idle worker and its guides go there; a crowded spec gets a copy on a thread computing no masks; a spec xgrammar refuses rejects', async () => {
    const held = await pool.guide(spec); // worker 0 holds `spec` and one guide
    const other: GuidedDecoding = { kind: 'regex', pattern: '(cat|dog) [0-9]{2,4}' };
    await pool.prepare(other); // on worker 1, the idle one
    expect(pool.holdersOf(other)).toEqual([1]);
    const g = await pool.guide(other);
    expect(pool.load).toEqual([1, 1]);
    await pool.prepare(other); // held already: nothing to compile
    expect(pool.holdersOf(other)).toEqual([1]);
    // Its guides stay where its grammar is (a guide never compiles when a worker holds it)...
    const more = [];
    for (let i = 0; i < 5; i++) more.push(await pool.guide(other));
    expect(pool.load).toEqual([1, 6]);
    // ...until a prepare finds every holder more than 4 guides over the least loaded worker: then
    // a copy is compiled in the background on a thread computing no masks (none is idle here: a
    // new one) without delaying the answer, and the next guides go to the least loaded holder.
    await pool.prepare(other);
    expect(pool.stats.numThreads).toBe(3);
    await until('the copy to be compiled', () => pool.holdersOf(other).length === 2);
    expect(pool.holdersOf(other)).toEqual([1, 2]);
    more.push(await pool.guide(other));
    expect(pool.load).toEqual([1, 6, 1]);
    expect(pool.stats).toMatchObject({ numExtraWorkersStarted: 1, numCompilesOnBusyWorkers: 0 });
    for (const x of [held, g, ...more]) x.dispose();
    await expect(pool.prepare({ kind: 'regex', pattern: '(' })).rejects.toBeInstanceOf(GrammarCompileError);
    expect(pool.load).toEqual([0, 0, 0]);
  }, 30_000); // workers 1 and 2 load xgrammar and build their tables here (seconds on a loaded machine)

  it('a resumed request\'s guide is advanced over its outputs; a spec xgrammar refuses is an error', async () => {
    const m = await local.matcher(spec);
    const prefix = (await randomWalk(m, [2], 3, 3, 0)).ids;
    const resumed = await pool.guide(spec, prefix);
    expect(Array.from(await resumed.nextMask())).toEqual(Array.from(await m.nextMask()));
    resumed.dispose();
    await expect(pool.guide({ kind: 'regex', pattern: '(' })).rejects.toBeInstanceOf(GrammarCompileError);
    await expect(pool.guide(spec, [2, 2, 2])).rejects.toThrow(/does not follow the grammar/);
  });

  it('after close, a guide\'s next mask fails (its request ends with an error) instead of hanging', async () => {
    const own = new GuideWorkerPool({ numWorkers: 1, tokenizerJsonPath, vocabSize: 512, stopTokenIds: [2] });
    const g = await own.guide(spec);
    await own.close();
    await expect(g.nextMask()).rejects.toThrow(/worker/);
  });
});

describe('GuideWorkerPool: compiles off the mask path', () => {
  const options = { tokenizerJsonPath, vocabSize: 512, stopTokenIds: [2] };

  it('a compile goes to a thread computing no masks (a new one while every worker has guides): the live guides\' masks keep coming; it then takes the spec\'s guides and is stopped once idle, its grammars with it', async () => {
    const pool = new GuideWorkerPool({ ...options, numWorkers: 1, idleRetireMs: 100, preparedPinMs: 300 });
    try {
      const live = await pool.guide(spec); // worker 0: a live guide, asked for a mask every "step"
      await live.nextMask();
      // A guide of a spec no worker holds (no prepare before it) is placed as a prepare's compile
      // is: on a new thread here.
      const unprepared: GuidedDecoding = { kind: 'regex', pattern: '[a-z]{3}!' };
      const u = await pool.guide(unprepared);
      expect(pool.load).toEqual([1, 1]);
      expect(pool.holdersOf(unprepared)).toEqual([1]);
      u.dispose();
      const slow = slowSpec('offpath');
      const during = await masksDuring(live, () => pool.prepare(slow)); // on worker 1, idle again
      expect(pool.stats).toMatchObject({ numThreads: 2, numExtraWorkersStarted: 1, numCompilesOnBusyWorkers: 0 });
      expect(pool.holdersOf(slow)).toEqual([1]);
      // Masks went on throughout: many of them, none waiting a sizeable part of the compile.
      expect(during.numMasks).toBeGreaterThan(20);
      expect(during.slowestMs).toBeLessThan(during.compileMs / 4);
      const g = await pool.guide(slow); // sticky: where it was compiled
      expect(pool.load).toEqual([1, 1]);
      g.dispose();
      await until('the extra thread to be stopped', () => pool.stats.numThreads === 1);
      expect(pool.stats.numWorkersStopped).toBe(1);
      expect(pool.load).toEqual([1]);
      // Its grammars went with it: the next prepare compiles again, off the mask path again.
      expect(pool.holdersOf(slow)).toEqual([]);
      await pool.prepare(slow);
      expect(pool.stats).toMatchObject({ numThreads: 2, numExtraWorkersStarted: 2, numCompilesOnBusyWorkers: 0 });
      expect(pool.holdersOf(slow)).toEqual([1]);
      live.dispose();
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('past the extra-thread bound a compile runs where guides live (counted), and their masks wait for it', async () => {
    const busyCompiles: (readonly number[])[] = [];
    const pool = new GuideWorkerPool({ ...options, numWorkers: 1, maxExtraWorkers: 0, onCompileOnBusyWorker: (load) => busyCompiles.push(load) });
    try {
      const live = await pool.guide(spec);
      await live.nextMask();
      const during = await masksDuring(live, () => pool.prepare(slowSpec('stalls')));
      expect(pool.stats).toMatchObject({ numThreads: 1, numExtraWorkersStarted: 0, numCompilesOnBusyWorkers: 1 });
      expect(busyCompiles).toEqual([[1]]);
      // The first mask asked for queued behind the compile: none came back before it finished.
      expect(during.numMasks).toBe(0);
      live.dispose();
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('a prepared grammar stays until its guide is made: 64 other specs do not evict it, its thread is not stopped while it is pinned', async () => {
    const pool = new GuideWorkerPool({ ...options, numWorkers: 1, maxExtraWorkers: 0 });
    try {
      const prepared: GuidedDecoding = { kind: 'regex', pattern: 'pinned [0-9]+' };
      const unpinned: GuidedDecoding = { kind: 'regex', pattern: 'unpinned [0-9]+' };
      await pool.prepare(prepared);
      (await pool.guide(unpinned)).dispose(); // compiled by its make: cached, not pinned
      for (let i = 0; i < 70; i++) (await pool.guide({ kind: 'regex', pattern: `other ${i} [a-z]+` })).dispose();
      expect(pool.holdersOf(unpinned)).toEqual([]); // least recently used: evicted
      expect(pool.holdersOf(prepared)).toEqual([0]); // older still, but pinned
      (await pool.guide(prepared)).dispose();
    } finally {
      await pool.close();
    }

    // On an extra thread: a live guide on worker 0 sends the compile to a new thread, which then
    // holds nothing live; it stays while its grammar is pinned, and goes once the pin expires.
    const extra = new GuideWorkerPool({ ...options, numWorkers: 1, idleRetireMs: 20, preparedPinMs: 1_500 });
    try {
      const live = await extra.guide(spec);
      const onExtra: GuidedDecoding = { kind: 'regex', pattern: 'extra [0-9]+' };
      await extra.prepare(onExtra);
      expect(extra.holdersOf(onExtra)).toEqual([1]);
      await sleep(300); // fifteen idle periods
      expect(extra.stats.numThreads).toBe(2);
      const g = await extra.guide(onExtra);
      expect(extra.load).toEqual([1, 1]);
      g.dispose();
      await until('the pin to expire and the thread to be stopped', () => extra.stats.numThreads === 1);
      live.dispose();
    } finally {
      await extra.close();
    }
  }, 60_000);

  it('a worker whose prepared guide is yet to come takes no compile; a grammar whose only holder is busy compiling is copied to a free thread first', async () => {
    const pool = new GuideWorkerPool({ ...options, numWorkers: 1, preparedPinMs: 60_000 });
    try {
      const cheap: GuidedDecoding = { kind: 'regex', pattern: '(red|blue) [0-9]+' };
      await pool.prepare(cheap); // worker 0 (idle), pinned: its guide is coming
      await pool.prepare(slowSpec('pinned'));
      expect(pool.holdersOf(slowSpec('pinned'))).toEqual([1]); // not worker 0
      expect(pool.stats).toMatchObject({ numThreads: 2, numExtraWorkersStarted: 1, numCompilesOnBusyWorkers: 0 });
      (await pool.guide(cheap)).dispose();
    } finally {
      await pool.close();
    }

    // Worker 0 holds `cheap` and is idle (no pin); a new schema compiles there; a request of
    // `cheap` arriving meanwhile would have its make (its first step) wait for that compile on
    // worker 0: its prepare answers once a copy is compiled on another thread, before the compile.
    const cheap: GuidedDecoding = { kind: 'regex', pattern: '(red|blue) [0-9]+' };
    const busy = slowSpec('busy');
    const copying = new GuideWorkerPool({ ...options, numWorkers: 2, maxExtraWorkers: 0, preparedPinMs: 0 });
    try {
      const first = await copying.guide(cheap); // worker 0
      (await copying.guide({ kind: 'regex', pattern: 'warm' })).dispose(); // worker 1 starts (its tables built)
      first.dispose();
      const slow = copying.prepare(busy); // the first idle worker: 0
      expect(copying.holdersOf(cheap)).toEqual([0]);
      await copying.prepare(cheap);
      expect(copying.holdersOf(busy)).toEqual([]); // still compiling
      expect(copying.holdersOf(cheap)).toEqual([0, 1]);
      const g = await copying.guide(cheap); // on the copy: worker 0 is still compiling
      expect(copying.load).toEqual([0, 1]);
      await slow;
      expect(copying.holdersOf(busy)).toEqual([0]);
      g.dispose();
    } finally {
      await copying.close();
    }

    // With no thread to copy to, the prepare answers once the compile is over.
    const waiting = new GuideWorkerPool({ ...options, numWorkers: 1, maxExtraWorkers: 0, preparedPinMs: 0 });
    try {
      (await waiting.guide(cheap)).dispose();
      const slow = waiting.prepare(busy);
      await waiting.prepare(cheap);
      expect(waiting.holdersOf(busy)).toEqual([0]); // compiled by then
      await slow;
      expect(waiting.stats.numCompilesOnBusyWorkers).toBe(0);
    } finally {
      await waiting.close();
    }
  }, 60_000);
});
