import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelTokenizer } from './model-tokenizer.js';
import { summarizeTokenizer } from './tokenizer-summary.js';
import { STORIES_260K_DIR } from './test-support/fixture-paths.js';
import { hasLoneSurrogate, streamInChunks, streamOneByOne } from './test-support/stream-assertions.js';

// The bundled model: SentencePiece-style BPE with byte fallback (`<0x00>`..`<0xFF>` = ids 3..258),
// `▁` for spaces, BOS added by the post-processor, decoder Replace/ByteFallback/Fuse/Strip(1).
describe('stories260k tokenizer', () => {
  let tokenizer: ModelTokenizer;
  let goldenIds: number[];
  let goldenText: string;

  beforeAll(async () => {
    tokenizer = await ModelTokenizer.fromDirectory(STORIES_260K_DIR);
    goldenIds = readFileSync(path.join(STORIES_260K_DIR, 'expected_greedy_from_bos_200_tokens.ids'), 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    goldenText = readFileSync(path.join(STORIES_260K_DIR, 'expected_greedy_from_bos_200_tokens.txt'), 'utf8');
  });

  it('encodes the README example with BOS, and without it on request', () => {
    expect(tokenizer.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    expect(tokenizer.encode('Once upon a time', { addSpecialTokens: false })).toEqual([403, 407, 261, 378]);
    expect(tokenizer.countTokens('Once upon a time')).toBe(5);
    expect(tokenizer.addsBosToken).toBe(true);
  });

  it('decodes the golden story exactly (BOS skipped, the first word loses its SentencePiece space)', () => {
    expect(goldenIds).toHaveLength(201);
    expect(goldenIds[0]).toBe(1);
    expect(tokenizer.decode(goldenIds)).toBe(goldenText);
    // Generated ids only (the prompt was just BOS): same text.
    expect(tokenizer.decode(goldenIds.slice(1))).toBe(goldenText);
    expect(tokenizer.decode(goldenIds, { skipSpecialTokens: false })).toBe(`<s> ${goldenText}`);
  });

  it('streams the golden story: every prefix, one token at a time, equals the full decode of that prefix', () => {
    const detokenizer = tokenizer.createDetokenizer({ promptTokenIds: [1] });
    let streamed = '';
    for (let n = 1; n < goldenIds.length; n++) {
      streamed += detokenizer.push([goldenIds[n]!]);
      // Every token of the story is complete ASCII, so nothing is held back.
      expect(streamed).toBe(tokenizer.decode(goldenIds.slice(0, n + 1)));
    }
    expect(streamed + detokenizer.finish()).toBe(goldenText);
  });

  it('matches @huggingface/tokenizers decode on multilingual text, skipping specials or not', () => {
    const reference = new Tokenizer(tokenizer.files.tokenizerJson, tokenizer.files.tokenizerConfig);
    const texts = ['Hello 世界! 日本語 مرحبا café naïve 🎉👨‍👩‍👧', ' two  spaces\n\nand <s> a special', '  leading spaces', '日'];
    for (const text of texts) {
      const ids = tokenizer.encode(text);
      for (const skip of [true, false]) {
        const expected = reference.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
        expect(tokenizer.decode(ids, { skipSpecialTokens: skip })).toBe(expected);
        expect(streamInChunks(tokenizer.createDetokenizer({ skipSpecialTokens: skip }), ids).join('')).toBe(expected);
      }
      // The normalizer's prepended ▁ is exactly what the decoder strips: a lossless round trip.
      if (!text.includes('<s>')) expect(tokenizer.decode(ids)).toBe(text);
    }
  });

  it('holds back a character split over byte-fallback tokens until it is complete', () => {
    // 日 is E6 97 A5: three byte tokens <0xE6><0x97><0xA5> (ids 0xE6+3 …).
    const ids = tokenizer.encode('a 日本', { addSpecialTokens: false });
    expect(ids.map((id) => tokenizer.idToToken(id))).toEqual([
      '▁a', '▁', '<0xE6>', '<0x97>', '<0xA5>', '<0xE6>', '<0x9C>', '<0xAC>',
    ]);
    const deltas = streamOneByOne(tokenizer.createDetokenizer(), ids);
    expect(deltas).toEqual(['a', ' ', '', '', '日', '', '', '本', '']);
    for (const delta of deltas) expect(delta).not.toContain('\uFFFD');
  });

  it('streams emoji and CJK across every token boundary without U+FFFD or half surrogates', () => {
    const text = 'The cat 🐈 said 你好, then 👨‍👩‍👧 left. Ünïcödé ✓';
    const ids = tokenizer.encode(text);
    const deltas = streamOneByOne(tokenizer.createDetokenizer(), ids);
    for (const delta of deltas) {
      expect(delta).not.toContain('\uFFFD');
      expect(hasLoneSurrogate(delta)).toBe(false);
    }
    expect(deltas.join('')).toBe(text);
  });

  it('keeps the first output word space when the output continues a prompt', () => {
    const prompt = tokenizer.encode('Once upon a');
    // 'time there' encodes as ▁time ▁there: the normalizer prepends the word-initial ▁.
    const output = tokenizer.encode('time there', { addSpecialTokens: false });
    const detokenizer = tokenizer.createDetokenizer({ promptTokenIds: prompt });
    const text = detokenizer.push(output) + detokenizer.finish();
    expect(text).toBe(' time there');
    expect(tokenizer.decode([...prompt, ...output])).toBe(tokenizer.decode(prompt) + text);
  });

  it('flushes an unfinished byte sequence as one U+FFFD, like a full decode', () => {
    const ids = [1, 0xe6 + 3, 0x97 + 3];
    const detokenizer = tokenizer.createDetokenizer();
    expect(detokenizer.push(ids)).toBe('');
    expect(detokenizer.finish()).toBe('\uFFFD');
    expect(tokenizer.decode(ids)).toBe('\uFFFD');
  });

  it('renders its minimal chat template and encodes it without a second BOS', () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Once upon a time' },
      { role: 'assistant', content: [{ type: 'text', text: 'there was' }] },
    ];
    const chat = tokenizer.applyChatTemplate(messages);
    expect(chat.prompt).toBe('<s>Be brief.\nOnce upon a timethere was</s>');
    expect(chat.promptTokenIds[0]).toBe(1);
    expect(chat.promptTokenIds[1]).not.toBe(1);
    expect(chat.promptTokenIds.at(-1)).toBe(2);
    expect(chat.numPromptTokens).toBe(chat.promptTokenIds.length);
    // Asking for special tokens on top of the template still yields a single BOS.
    expect(tokenizer.applyChatTemplate(messages, { addSpecialTokens: true }).promptTokenIds).toEqual(chat.promptTokenIds);
  });

  it('summarises itself for the admin endpoint', () => {
    const summary = summarizeTokenizer(tokenizer);
    expect(summary).toMatchObject({
      vocabSize: 512,
      numAddedTokens: 3,
      bosToken: { id: 1, text: '<s>' },
      addsBosToken: true,
      eosTokens: [
        { id: 2, text: '</s>' },
        { id: 1, text: '<s>' },
      ],
      hasChatTemplate: true,
      chatTemplateNames: ['default'],
      modelMaxLength: 512,
    });
    expect(summary.specialTokens).toEqual([
      { id: 0, text: '<unk>' },
      { id: 1, text: '<s>' },
      { id: 2, text: '</s>' },
    ]);
  });
});
