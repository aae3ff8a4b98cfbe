import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GuidedDecoding } from '@deepinfer/contracts';
import { GrammarCompileError, GuidedGrammars, vocabularyFromTokenizerJson } from '../grammar.js';
import { prepareJsonSchema } from '../json-schema-check.js';
import { randomWalk, textOfIds } from '../testing.js';
import { GuideWorkerPool } from './guide-worker-pool.js';

const root = path.resolve(import.meta.dirname, '../../../..');
const tokenizerJsonPath = path.join(root, 'models/stories260k/tokenizer.json');
const vocab = vocabularyFromTokenizerJson(JSON.parse(readFileSync(tokenizerJsonPath, 'utf8')), 512);
const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 8 }, age: { type: 'integer', minimum: 1, maximum: 99 } }, required: ['name', 'age'], additionalProperties: false };
const spec: GuidedDecoding = { kind: 'json_schema', schema: prepareJsonSchema(schema, 'schema'), strict: true };

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

  it('prepare compiles a spec on the least loaded worker, its guides go there; past the slack they spread; a spec xgrammar refuses rejects', async () => {
    const held = await pool.guide(spec); // worker 0 holds `spec` and one guide
    const other: GuidedDecoding = { kind: 'regex', pattern: '(cat|dog) [0-9]{2,4}' };
    await pool.prepare(other); // on worker 1, the idle one
    const g = await pool.guide(other);
    expect(pool.load).toEqual([1, 1]);
    await pool.prepare(other); // held already: nothing to compile
    // Sticky up to BALANCE_SLACK (4) guides over the least loaded worker, then the least loaded.
    const more = [];
    for (let i = 0; i < 5; i++) more.push(await pool.guide(other));
    expect(pool.load).toEqual([1, 6]);
    more.push(await pool.guide(other));
    expect(pool.load).toEqual([2, 6]);
    for (const x of [held, g, ...more]) x.dispose();
    await expect(pool.prepare({ kind: 'regex', pattern: '(' })).rejects.toBeInstanceOf(GrammarCompileError);
    expect(pool.load).toEqual([0, 0]);
  }, 30_000); // worker 1 loads xgrammar and builds its tables here (seconds on a loaded machine)

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
