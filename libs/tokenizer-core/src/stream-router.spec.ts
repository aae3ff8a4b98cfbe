import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RequestOutput, StreamDelta, StreamOpen } from '@deepinfer/contracts';
import { ModelTokenizer } from './model-tokenizer.js';
import { StreamRouter } from './stream-router.js';
import { STORIES_260K_DIR } from './test-support/fixture-paths.js';
import { DuplicateStreamError, InvalidStopError } from './tokenizer.errors.js';

const open = (requestId: string, deltasSubject = 'api.a.deltas', detokenize: StreamOpen['detokenize'] = {}): StreamOpen => ({ requestId, deltasSubject, detokenize });
const output = (requestId: string, newTokenIds: number[], numOutputTokens: number, extra: Partial<RequestOutput> = {}): RequestOutput => ({
  requestId,
  newTokenIds,
  numPromptTokens: 1,
  numCachedTokens: 0,
  numOutputTokens,
  ...extra,
});

describe('StreamRouter', () => {
  let tokenizer: ModelTokenizer;
  let golden: number[];
  let goldenText: string;

  beforeAll(async () => {
    tokenizer = await ModelTokenizer.fromDirectory(STORIES_260K_DIR);
    golden = readFileSync(path.join(STORIES_260K_DIR, 'expected_greedy_from_bos_200_tokens.ids'), 'utf8').trim().split(/\s+/).map(Number).slice(1);
    goldenText = readFileSync(path.join(STORIES_260K_DIR, 'expected_greedy_from_bos_200_tokens.txt'), 'utf8');
  });

  it('streams the golden story one token per step: text, contiguous seq, usage on the last delta', () => {
    const router = new StreamRouter(tokenizer.pieces);
    router.open([open('r')], [1]);
    const deltas: StreamDelta[] = [];
    golden.forEach((id, i) => {
      const last = i === golden.length - 1;
      const routing = router.route({ stepId: i + 1, outputs: [output('r', [id], i + 1, last ? { finishReason: 'length' } : {})] });
      expect(routing.batches).toHaveLength(1);
      deltas.push(...routing.batches[0]!.message.deltas);
    });
    expect(deltas.map((d) => d.text).join('')).toBe(goldenText);
    expect(deltas.map((d) => d.seq)).toEqual(golden.map((_, i) => i));
    expect(deltas.slice(0, -1).every((d) => d.usage === undefined && d.finishReason === undefined)).toBe(true);
    expect(deltas.at(-1)).toMatchObject({ finishReason: 'length', usage: { numPromptTokens: 1, numCachedTokens: 0, numOutputTokens: 200 } });
    expect(router.size).toBe(0);
  });

  it('keeps the first word’s space after a prompt (the stream is primed with the prompt ids)', () => {
    const router = new StreamRouter(tokenizer.pieces);
    router.open([open('r')], tokenizer.encode('Once upon a time,'));
    const ids = tokenizer.encode('there was', { addSpecialTokens: false });
    const text = router.route({ stepId: 1, outputs: [output('r', ids, ids.length)] }).batches[0]!.message.deltas[0]!.text;
    expect(text).toBe(' there was');
  });

  it('ends at a stop string split across tokens, hides it, drops later ids and asks for an abort', () => {
    const router = new StreamRouter(tokenizer.pieces);
    router.open([open('r', 'api.a.deltas', { stop: ['a little g'] })], [1]);
    let text = '';
    let last: StreamDelta | undefined;
    const aborts: string[] = [];
    for (let i = 0; i < golden.length && router.has('r'); i++) {
      const routing = router.route({ stepId: i + 1, outputs: [output('r', [golden[i]!], i + 1)] });
      last = routing.batches[0]!.message.deltas[0]!;
      text += last.text;
      aborts.push(...routing.stopAbortRequestIds);
    }
    expect(text).toBe('Once upon a time, there was ');
    expect(last).toMatchObject({ finishReason: 'stop', stopReason: 'a little g' });
    expect(aborts).toEqual(['r']);
    // The scheduler may send a step or two more before the abort reaches it: ignored, counted.
    expect(router.route({ stepId: 999, outputs: [output('r', [5], 99)] })).toMatchObject({ batches: [], unknownRequestIds: ['r'] });
  });

  it('does not ask for an abort when the scheduler ended the request in the same step', () => {
    const router = new StreamRouter(tokenizer.pieces);
    router.open([open('r', 's', { stop: ['time'] })], [1]);
    const ids = tokenizer.encode('Once upon a time, there', { addSpecialTokens: false });
    const routing = router.route({ stepId: 1, outputs: [output('r', ids, ids.length, { finishReason: 'length' })] });
    const delta = routing.batches[0]!.message.deltas[0]!;
    expect(delta).toMatchObject({ text: 'Once upon a ', finishReason: 'stop', stopReason: 'time' });
    // Only the ids up to the hit are covered, and counted.
    expect(delta.tokenIds).toEqual(ids.slice(0, 4));
    expect(delta.usage?.numOutputTokens).toBe(4);
    expect(routing.stopAbortRequestIds).toEqual([]);
  });

  it('groups deltas into one batch per deltas subject, in step order, and reports unknown ids', () => {
    const router = new StreamRouter(tokenizer.pieces);
    router.open([open('a1', 'api.a'), open('a2', 'api.a')], [1]);
    router.open([open('b1', 'api.b')], [1]);
    const [once, upon] = tokenizer.encode('Once upon', { addSpecialTokens: false });
    const routing = router.route({ stepId: 1, outputs: [output('a1', [once!], 1), output('b1', [once!], 1), output('x', [once!], 1), output('a2', [upon!], 1)] });
    expect(routing.batches.map((b) => [b.subject, b.message.deltas.map((d) => [d.requestId, d.seq, d.text])])).toEqual([
      ['api.a', [['a1', 0, 'Once'], ['a2', 0, 'upon']]],
      ['api.b', [['b1', 0, 'Once']]],
    ]);
    expect(routing.unknownRequestIds).toEqual(['x']);
  });

  it('reports the stop token id as stopReason and leaves its text out', () => {
    const router = new StreamRouter(tokenizer.pieces);
    router.open([open('r', 's', { skipSpecialTokens: false })], [1]);
    const [once] = tokenizer.encode('Once', { addSpecialTokens: false });
    router.route({ stepId: 1, outputs: [output('r', [once!], 1)] });
    const delta = router.route({ stepId: 2, outputs: [output('r', [2], 2, { finishReason: 'stop', stopTokenId: 2 })] }).batches[0]!.message.deltas[0]!;
    expect(delta).toMatchObject({ seq: 1, text: '', tokenIds: [2], finishReason: 'stop', stopReason: 2, usage: { numOutputTokens: 2 } });
  });

  it('passes an engine error on as finishReason error with its message', () => {
    const router = new StreamRouter(tokenizer.pieces);
    router.open([open('r')], [1]);
    const delta = router.route({ stepId: 1, outputs: [output('r', [], 0, { finishReason: 'error', error: 'step failed' })] }).batches[0]!.message.deltas[0]!;
    expect(delta).toMatchObject({ finishReason: 'error', error: 'step failed', usage: { numOutputTokens: 0 } });
    expect(delta).not.toHaveProperty('errorCode'); // the engine's own failure: the api answers 500
    expect(router.size).toBe(0);
  });

  it('passes a failure\'s protocol code on (a refused grammar: bad_request), for every choice of the request', () => {
    const router = new StreamRouter(tokenizer.pieces);
    router.open([open('r-0'), open('r-1')], [1]);
    const refused = { finishReason: 'error' as const, error: 'guided decoding: the grammar cannot be compiled: too big', errorCode: 'bad_request' as const };
    const { batches } = router.route({ stepId: 0, outputs: [output('r-0', [], 0, refused), output('r-1', [], 0, refused)] });
    expect(batches).toHaveLength(1);
    expect(batches[0]!.message.deltas).toEqual(['r-0', 'r-1'].map((requestId) => ({ requestId, seq: 0, text: '', tokenIds: [], finishReason: 'error', error: refused.error, errorCode: 'bad_request', usage: { numPromptTokens: 1, numCachedTokens: 0, numOutputTokens: 0 } })));
    expect(router.size).toBe(0);
  });

  it('converts logprobs to token texts, skipping malformed entries', () => {
    const router = new StreamRouter(tokenizer.pieces);
    router.open([open('r')], [1]);
    const [once, upon] = tokenizer.encode('Once upon', { addSpecialTokens: false });
    const bad = { logprob: 'x' } as unknown as { logprob: number };
    const routing = router.route({
      stepId: 1,
      outputs: [output('r', [once!, upon!], 2, { logprobs: [{ logprob: -0.5, topTokenIds: [once!, 2, 0xe6 + 3], topLogprobs: [-0.5, -2, -3] }, bad] })],
    });
    expect(routing.batches[0]!.message.deltas[0]!.logprobs).toEqual([
      {
        tokenId: once,
        token: ' Once',
        logprob: -0.5,
        top: [
          { tokenId: once, token: ' Once', logprob: -0.5 },
          { tokenId: 2, token: '</s>', logprob: -2 },
          { tokenId: 0xe6 + 3, token: '\uFFFD', logprob: -3 },
        ],
      },
    ]);
  });

  it('opens all streams of a request or none', () => {
    const router = new StreamRouter(tokenizer.pieces);
    router.open([open('r')], [1]);
    expect(() => router.open([open('n1'), open('r')], [1])).toThrow(DuplicateStreamError);
    expect(() => router.open([open('n2'), open('n2')], [1])).toThrow(DuplicateStreamError);
    expect(() => router.open([open('n3'), open('n4', 's', { stop: [''] })], [1])).toThrow(InvalidStopError);
    expect(router.size).toBe(1);
  });

  it('closes streams of requests that never ran, and sweeps idle ones with a final error delta', () => {
    let now = 0;
    const router = new StreamRouter(tokenizer.pieces, { idleTimeoutMs: 1000, now: () => now });
    router.open([open('closed'), open('idle', 'api.z'), open('busy')], [1]);
    expect(router.close(['closed', 'never'])).toBe(1);
    now = 900;
    router.route({ stepId: 1, outputs: [output('busy', [403], 1), output('idle', [403], 1)] });
    now = 1500;
    router.route({ stepId: 2, outputs: [output('busy', [407], 2)] });
    expect(router.sweepIdle()).toEqual({ batches: [], requestIds: [] });
    now = 2000;
    const sweep = router.sweepIdle();
    expect(sweep.requestIds).toEqual(['idle']);
    expect(sweep.batches).toEqual([{ subject: 'api.z', message: { deltas: [expect.objectContaining({ requestId: 'idle', seq: 1, finishReason: 'error' })] } }]);
    expect([router.has('busy'), router.size]).toEqual([true, 1]);
  });
});
