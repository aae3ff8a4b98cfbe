import path from 'node:path';
import type { GuidedDecoding } from '@deepinfer/contracts';
import { GrammarCompileError } from '../grammar.js';
import { randomWalk } from '../testing.js';
import { GuideSource } from './guide-source.js';

const root = path.resolve(import.meta.dirname, '../../../..');
const options = { tokenizerJsonPath: path.join(root, 'models/stories260k/tokenizer.json'), vocabSize: 512, stopTokenIds: [2] };
const spec: GuidedDecoding = { kind: 'regex', pattern: '(cat|dog) [0-9]{2,4}' };

describe('GuideSource', () => {
  it('0 workers: guides on this thread (no worker), the same walks and mask times as on a worker', async () => {
    const here = new GuideSource({ ...options, numWorkers: 0 });
    const there = new GuideSource({ ...options, numWorkers: 1 });
    try {
      for (const seed of [5, 6, 7]) {
        const a = await here.guide(spec);
        const b = await there.guide(spec);
        const [wa, wb] = [await randomWalk(a, [2], seed), await randomWalk(b, [2], seed)];
        expect(wa).toEqual(wb);
        expect(wa.stopped).toBe(true);
        expect(a.lastMaskMs).toBeGreaterThanOrEqual(0);
        expect(b.lastMaskMs).toBeGreaterThanOrEqual(0);
        a.dispose();
        b.dispose();
      }
      expect(here.workerLoad).toEqual([]);
      expect(there.workerLoad).toEqual([0]);
    } finally {
      await here.close();
      await there.close();
    }
  });

  it('prepare compiles a grammar ahead of its guides (both paths) and rejects one xgrammar refuses', async () => {
    for (const numWorkers of [0, 1]) {
      const source = new GuideSource({ ...options, numWorkers });
      try {
        await source.prepare(spec);
        const g = await source.guide(spec);
        expect((await randomWalk(g, [2], 1)).stopped).toBe(true);
        g.dispose();
        await expect(source.prepare({ kind: 'regex', pattern: '(' })).rejects.toBeInstanceOf(GrammarCompileError);
      } finally {
        await source.close();
      }
    }
  });

  it('no token tables (tokenizer.json missing) is not the grammar\'s fault: a plain error, on both paths', async () => {
    for (const numWorkers of [0, 1]) {
      const source = new GuideSource({ ...options, tokenizerJsonPath: path.join(root, 'models/stories260k/no-such-tokenizer.json'), numWorkers });
      try {
        const err = await source.prepare(spec).catch((e: unknown) => e);
        expect(err).toMatchObject({ message: expect.stringMatching(/no-such-tokenizer\.json/) });
        expect(err).not.toBeInstanceOf(GrammarCompileError);
      } finally {
        await source.close();
      }
    }
  });

  it('refuses a negative worker count', () => {
    expect(() => new GuideSource({ ...options, numWorkers: -1 })).toThrow(RangeError);
  });
});
