import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GuidedDecoding } from '@deepinfer/contracts';
import { GuidedGrammars, vocabularyFromTokenizerJson } from '../grammar.js';
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

  it('gives the same masks as a matcher on the main thread, spreads guides by load, and batches a turn\'s masks', async () => {
    const [a, b] = [await pool.guide(spec), await pool.guide(spec)];
    expect(pool.load).toEqual([1, 1]); // least loaded first
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

  it('a resumed request\'s guide is advanced over its outputs; a spec xgrammar refuses is an error', async () => {
    const m = await local.matcher(spec);
    const prefix = (await randomWalk(m, [2], 3, 3, 0)).ids;
    const resumed = await pool.guide(spec, prefix);
    expect(Array.from(await resumed.nextMask())).toEqual(Array.from(await m.nextMask()));
    resumed.dispose();
    await expect(pool.guide({ kind: 'regex', pattern: '(' })).rejects.toThrow();
    await expect(pool.guide(spec, [2, 2, 2])).rejects.toThrow(/does not follow the grammar/);
  });

  it('after close, a guide\'s next mask fails (its request ends with an error) instead of hanging', async () => {
    const own = new GuideWorkerPool({ numWorkers: 1, tokenizerJsonPath, vocabSize: 512, stopTokenIds: [2] });
    const g = await own.guide(spec);
    await own.close();
    await expect(g.nextMask()).rejects.toThrow(/worker/);
  });
});
