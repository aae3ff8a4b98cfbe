import { compileTokenPieces } from './token-pieces.compiler.js';
import { IncrementalDetokenizer } from './incremental-detokenizer.js';
import type { DecoderJson } from './tokenizer-json.types.js';

// Synthetic vocabularies for decoder chains the fixtures do not cover.
const decodeAll = (pieces: ReturnType<typeof compileTokenPieces>, ids: number[], skipSpecialTokens = true) => {
  const detokenizer = new IncrementalDetokenizer(pieces, { skipSpecialTokens });
  return ids.map((id) => detokenizer.push([id])).join('') + detokenizer.finish();
};

describe('compileTokenPieces', () => {
  const tokens = ['<s>', '▁Hello', '▁world', '▁', '▁▁x', '<0xE6>', '<0x97>', '<0xA5>'];

  it('Metaspace strips the leading space of the first token only', () => {
    const pieces = compileTokenPieces({ type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' }, tokens, new Set([0]), new Set([0]));
    expect(decodeAll(pieces, [0, 1, 2])).toBe('Hello world');
    expect(decodeAll(pieces, [0, 1, 2], false)).toBe('<s> Hello world');
    expect(decodeAll(pieces, [4, 1])).toBe(' x Hello');
    const never = compileTokenPieces({ type: 'Metaspace', prepend_scheme: 'never' }, tokens, new Set(), new Set());
    expect(decodeAll(never, [1, 2])).toBe(' Hello world');
  });

  it('Strip after Fuse removes up to `start` leading characters of the whole text', () => {
    const decoder: DecoderJson = {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 2, stop: 0 },
      ],
    };
    const pieces = compileTokenPieces(decoder, tokens, new Set([0]), new Set([0]));
    // "▁" then "▁▁x": three leading spaces across two tokens, two stripped.
    expect(decodeAll(pieces, [0, 3, 4, 5, 6, 7])).toBe(' x日');
    expect(decodeAll(pieces, [1, 2])).toBe('Hello world');
  });

  it('refuses decoders it cannot stream rather than decoding wrong text', () => {
    for (const decoder of [
      { type: 'WordPiece', prefix: '##' },
      { type: 'Sequence', decoders: [{ type: 'Fuse' }, { type: 'Strip', content: ' ', start: 0, stop: 1 }] },
      { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Replace', pattern: { String: 'a' }, content: 'b' }] },
    ]) {
      expect(() => compileTokenPieces(decoder, tokens, new Set(), new Set())).toThrow(expect.objectContaining({ code: 'unsupported_decoder' }));
    }
    expect(() => compileTokenPieces(null, tokens, new Set(), new Set())).toThrow(expect.objectContaining({ code: 'unsupported_decoder' }));
  });

  it('decodes ids without a token to nothing', () => {
    const pieces = compileTokenPieces({ type: 'ByteLevel' }, ['a', undefined, 'b'], new Set(), new Set());
    expect(decodeAll(pieces, [0, 1, 2, 99, -1])).toBe('ab');
  });
});
