import { ModelTokenizer } from './model-tokenizer.js';
import { SequenceDetokenizer, type SequenceDelta, type SequenceDetokenizerOptions } from './sequence-detokenizer.js';
import { STORIES_260K_DIR } from './test-support/fixture-paths.js';

// Stop strings on real tokens of the bundled model. The story's first sentence is
// ▁Once ▁upon ▁a ▁time , ▁there ▁was ▁a ▁little ▁g ir l ▁named ▁Lily .
describe('SequenceDetokenizer (stop strings)', () => {
  let tokenizer: ModelTokenizer;
  let ids: number[];

  beforeAll(async () => {
    tokenizer = await ModelTokenizer.fromDirectory(STORIES_260K_DIR);
    ids = tokenizer.encode('Once upon a time, there was a little girl named Lily.', { addSpecialTokens: false });
  });

  function run(options: SequenceDetokenizerOptions, chunkSize = 1, finishReason: 'length' | 'stop' = 'length') {
    const sequence = new SequenceDetokenizer('req-1', tokenizer.pieces, options);
    const deltas: SequenceDelta[] = [];
    for (let start = 0; start < ids.length && !sequence.isFinished; start += chunkSize) {
      const chunk = ids.slice(start, start + chunkSize);
      deltas.push(sequence.feed(chunk, start + chunkSize >= ids.length ? finishReason : undefined));
    }
    const last = deltas.at(-1)!;
    return { text: deltas.map((delta) => delta.text).join(''), deltas, last };
  }

  it('tokenizes the sentence as the comments assume', () => {
    expect(ids.map((id) => tokenizer.idToToken(id))).toEqual([
      '▁Once', '▁upon', '▁a', '▁time', ',', '▁there', '▁was', '▁a', '▁little', '▁g', 'ir', 'l', '▁named', '▁Lily', '.',
    ]);
  });

  it('stops on a string inside one token', () => {
    const { text, last } = run({ stop: ['time'] });
    expect(text).toBe('Once upon a ');
    expect(last).toMatchObject({ finished: true, finishReason: 'stop', stopString: 'time', abortSequence: true, numOutputTokens: 4 });
  });

  it('stops on a string split across two tokens', () => {
    expect(run({ stop: ['time,'] }).text).toBe('Once upon a ');
  });

  it('stops on a string split across three tokens, holding back its start meanwhile', () => {
    const { text, deltas, last } = run({ stop: ['girl named'] });
    expect(text).toBe('Once upon a time, there was a little ');
    // After ▁g / ir / l the candidate "g", "gir", "girl" is held, never sent.
    expect(deltas.slice(9, 12).map((delta) => delta.text)).toEqual([' ', '', '']);
    expect(last.numOutputTokens).toBe(13);
  });

  it('matches across tokens whatever the batch size', () => {
    for (const chunkSize of [1, 2, 3, 5, 15]) {
      const { text, last } = run({ stop: ['girl named'] }, chunkSize);
      expect(text).toBe('Once upon a time, there was a little ');
      expect(last.numOutputTokens).toBe(13);
    }
  });

  it('with overlapping stops, the one completing first wins; on a tie, the one starting first', () => {
    expect(run({ stop: ['was a', 'there was'] }).last.stopString).toBe('there was');
    expect(run({ stop: ['was a', 'there was'] }).text).toBe('Once upon a time, ');
    const tie = run({ stop: ['girl', 'little girl'] });
    expect(tie.last.stopString).toBe('little girl');
    expect(tie.text).toBe('Once upon a time, there was a ');
    // Overlap inside one batch: all 15 tokens at once.
    expect(run({ stop: ['a time', 'upon'] }, 15).last.stopString).toBe('upon');
  });

  it('stops at the very first token', () => {
    const { deltas, last } = run({ stop: ['Once'] });
    expect(deltas).toHaveLength(1);
    expect(last).toMatchObject({ text: '', finished: true, stopString: 'Once', numOutputTokens: 1, abortSequence: true });
  });

  it('includes the stop string on request', () => {
    expect(run({ stop: ['time,'], includeStopStrInOutput: true }).text).toBe('Once upon a time,');
    expect(run({ stop: ['girl'], includeStopStrInOutput: true }).text).toBe('Once upon a time, there was a little girl');
  });

  it('flushes held-back text when the sequence ends for another reason', () => {
    const { text, last } = run({ stop: ['Lily.!'] });
    expect(text).toBe('Once upon a time, there was a little girl named Lily.');
    expect(last).toMatchObject({ finished: true, finishReason: 'length', abortSequence: false });
    expect(last).not.toHaveProperty('stopString');
  });

  it("leaves the stop token's text out when the scheduler stopped on it, unless asked", () => {
    // Pretend "." (a normal token) is a stop token id: the scheduler finishes with reason stop.
    expect(run({}, 1, 'stop').text).toBe('Once upon a time, there was a little girl named Lily');
    expect(run({ includeStopStrInOutput: true }, 1, 'stop').text).toBe('Once upon a time, there was a little girl named Lily.');
    const eos = new SequenceDetokenizer('req-2', tokenizer.pieces, { stop: ['zzz'] });
    expect(eos.feed([ids[0]!, 2], 'stop')).toMatchObject({ text: 'Once', finished: true, finishReason: 'stop', numOutputTokens: 2 });
  });

  it('returns empty deltas after finishing and ends on demand', () => {
    const sequence = new SequenceDetokenizer('req-3', tokenizer.pieces, { stop: ['Once upon a time, there was a big'] });
    expect(sequence.feed(ids.slice(0, 3)).text).toBe('');
    expect(sequence.finish('abort')).toMatchObject({ text: 'Once upon a', finished: true, finishReason: 'abort' });
    expect(sequence.feed(ids.slice(3))).toMatchObject({ text: '', finished: true });
  });

  it('rejects empty or malformed stop strings', () => {
    expect(() => new SequenceDetokenizer('r', tokenizer.pieces, { stop: [''] })).toThrow(expect.objectContaining({ code: 'invalid_stop' }));
    expect(() => new SequenceDetokenizer('r', tokenizer.pieces, { stop: ['\uD83D'] })).toThrow(expect.objectContaining({ code: 'invalid_stop' }));
  });
});
