import { DetokenizerPool, type SequenceStepOutput } from './detokenizer-pool.js';
import { ModelTokenizer } from './model-tokenizer.js';
import { STORIES_260K_DIR } from './test-support/fixture-paths.js';

describe('DetokenizerPool', () => {
  let tokenizer: ModelTokenizer;

  beforeAll(async () => {
    tokenizer = await ModelTokenizer.fromDirectory(STORIES_260K_DIR);
  });

  it('detokenizes interleaved sequences from batched step outputs and forgets finished ones', () => {
    const pool = tokenizer.createDetokenizerPool();
    const texts = { a: 'Once upon a time 日本.', b: 'The dog ran fast. 🐕', c: 'Lily saw a big red ball.' };
    const ids = Object.fromEntries(Object.entries(texts).map(([id, text]) => [id, tokenizer.encode(text, { addSpecialTokens: false })]));
    pool.create('a');
    pool.create('b', { stop: ['fast'] });
    pool.create('c', { promptTokenIds: tokenizer.encode('Then') });
    const out: Record<string, string> = { a: '', b: '', c: '' };
    const finished: Record<string, unknown> = {};
    for (let step = 0; pool.size > 0; step++) {
      const batch: SequenceStepOutput[] = [];
      for (const id of ['a', 'b', 'c']) {
        const seq = ids[id]!;
        // Sequence a decodes two tokens per step, the others one.
        const n = id === 'a' ? 2 : 1;
        const newTokenIds = seq.slice(step * n, step * n + n);
        if (newTokenIds.length === 0 && !pool.has(id)) continue;
        batch.push({ requestId: id, newTokenIds, ...((step + 1) * n >= seq.length ? { finishReason: 'length' as const } : {}) });
      }
      for (const delta of pool.processStep(batch)) {
        out[delta.requestId] += delta.text;
        if (delta.finished) finished[delta.requestId] = delta;
      }
    }
    expect(out).toEqual({ a: texts.a, b: 'The dog ran ', c: ` ${texts.c}` });
    expect(finished['a']).toMatchObject({ finishReason: 'length', abortSequence: false });
    expect(finished['b']).toMatchObject({ finishReason: 'stop', stopString: 'fast', abortSequence: true });
    expect(pool.size).toBe(0);
  });

  it('skips outputs for unknown ids, finishes and drops on demand, rejects duplicates', () => {
    const pool = new DetokenizerPool(tokenizer.pieces);
    expect(pool.processStep([{ requestId: 'ghost', newTokenIds: [403] }])).toEqual([]);
    pool.create('x', { stop: ['upon a'] });
    expect(() => pool.create('x')).toThrow(/already exists/);
    expect(pool.feed('x', tokenizer.encode('Once upon', { addSpecialTokens: false }))?.text).toBe('Once ');
    expect(pool.finish('x')).toMatchObject({ text: 'upon', finished: true, finishReason: 'abort' });
    expect(pool.has('x')).toBe(false);
    pool.create('y');
    expect(pool.drop('y')).toBe(true);
    expect(pool.drop('y')).toBe(false);
    expect(pool.finish('y')).toBeUndefined();
  });
});
