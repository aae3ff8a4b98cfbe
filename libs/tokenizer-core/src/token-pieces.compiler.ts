import { TokenizerLoadError } from './tokenizer.errors.js';
import type { DecoderJson } from './tokenizer-json.types.js';
import { Utf8StreamDecoder } from './utf8-stream-decoder.js';

/**
 * Text at the very start of the output that the decoder removes: SentencePiece tokenizers write
 * a word-initial space as `▁`, and the decoder drops the one the normalizer prepended to the
 * first word (Llama 2's `Strip(' ', 1, 0)` after `Fuse`, or `Metaspace` on the first token).
 */
export interface LeadingStripRule {
  /** the character removed (a space in every tokenizer we know) */
  readonly char: string;
  /** at most this many leading `char`s are removed */
  readonly maxChars: number;
  /**
   * true (Metaspace): only the first token's text is examined; false (Strip after Fuse): the
   * start of the whole text, whatever token the characters came from.
   */
  readonly firstTokenOnly: boolean;
}

/** What every token id decodes to, computed once per tokenizer; the hot path only indexes it. */
export interface TokenPieces {
  /** ids 0..vocabSize-1 may exist; other ids decode to nothing (as HF's decode skips them) */
  readonly vocabSize: number;
  /**
   * The bytes each id adds to the UTF-8 text, after the decoder's per-token steps (byte-level
   * mapping, `<0xNN>` byte fallback, `▁` → space), all ids' bytes back to back: id i owns
   * `bytes[offsets[i] .. offsets[i + 1])`. One buffer instead of 150k small arrays keeps a
   * Qwen-size vocabulary at about a megabyte.
   */
  readonly bytes: Uint8Array;
  readonly offsets: Uint32Array;
  /** 1 when the id has a token; ids without one (gaps, padding rows) decode to nothing */
  readonly hasToken: Uint8Array;
  /** The same bytes as a string when they are complete, valid UTF-8 on their own; else null. */
  readonly text: ReadonlyArray<string | null>;
  /** 1 for tokens that `skip_special_tokens` removes */
  readonly isSpecial: Uint8Array;
  /** 1 for added tokens (special or not): the units `spaces_between_special_tokens` separates */
  readonly isAdded: Uint8Array;
  readonly leadingStrip: LeadingStripRule | null;
}

const BYTE_FALLBACK = /^<0x([0-9A-Fa-f]{2})>$/;
const encoder = new TextEncoder();

type Piece = string | number[];

/**
 * Compiles tokenizer.json's `decoder` into per-token bytes. Hugging Face decoders are a chain of
 * steps over the list of token strings; every step used by the model families we serve either
 * acts on each token alone (Replace, ByteFallback, ByteLevel, Metaspace, Strip before Fuse) or
 * on the fused text's first characters (Strip after Fuse), so decoding any id sequence is the
 * concatenation of per-token bytes, read as UTF-8, minus a leading-space rule. That is what
 * makes incremental detokenization O(new tokens).
 *
 * Steps outside that set (WordPiece, BPEDecoder, CTC, a trailing Strip, Replace after Fuse)
 * raise `unsupported_decoder` at load time rather than decode subtly wrong text.
 */
export function compileTokenPieces(
  decoder: DecoderJson | null | undefined,
  tokens: ReadonlyArray<string | undefined>,
  addedIds: ReadonlySet<number>,
  specialIds: ReadonlySet<number>,
): TokenPieces {
  if (!decoder) throw new TokenizerLoadError('tokenizer.json has no decoder; cannot detokenize', 'unsupported_decoder');
  const steps = flatten(decoder);
  const pieces: Array<Piece | undefined> = tokens.map((token) => token);
  let fused = false;
  let leadingStrip: LeadingStripRule | null = null;
  let bytesProduced = false;

  for (const step of steps) {
    switch (step.type) {
      case 'Replace': {
        if (fused) throw unsupported(step, 'after Fuse');
        if (bytesProduced) throw unsupported(step, 'after a byte-producing step');
        const pattern = step.pattern?.String !== undefined ? step.pattern.String : step.pattern?.Regex !== undefined ? new RegExp(step.pattern.Regex, 'gu') : null;
        if (pattern === null) throw unsupported(step, 'without a pattern');
        const content = step.content ?? '';
        mapStrings(pieces, (s) => s.replaceAll(pattern, content));
        break;
      }
      case 'ByteFallback': {
        if (fused) throw unsupported(step, 'after Fuse');
        bytesProduced = true;
        for (let id = 0; id < pieces.length; id++) {
          const piece = pieces[id];
          if (typeof piece !== 'string') continue;
          const match = BYTE_FALLBACK.exec(piece);
          if (match) pieces[id] = [parseInt(match[1]!, 16)];
        }
        break;
      }
      case 'ByteLevel': {
        if (fused) throw unsupported(step, 'after Fuse');
        bytesProduced = true;
        const charToByte = byteLevelCharToByte();
        for (let id = 0; id < pieces.length; id++) {
          const piece = pieces[id];
          // Added tokens are written verbatim (their text is not byte-level encoded).
          if (typeof piece !== 'string' || addedIds.has(id)) continue;
          const bytes: number[] = [];
          let mapped = true;
          for (const ch of piece) {
            const byte = charToByte.get(ch);
            if (byte === undefined) {
              mapped = false;
              break;
            }
            bytes.push(byte);
          }
          if (mapped) pieces[id] = bytes;
        }
        break;
      }
      case 'Metaspace': {
        if (fused) throw unsupported(step, 'after Fuse');
        const replacement = step.replacement ?? '\u2581';
        mapStrings(pieces, (s) => s.replaceAll(replacement, ' '));
        const prepends = step.prepend_scheme !== undefined ? step.prepend_scheme !== 'never' : step.add_prefix_space !== false;
        if (prepends) leadingStrip = { char: ' ', maxChars: 1, firstTokenOnly: true };
        break;
      }
      case 'Strip': {
        const content = step.content ?? ' ';
        const start = step.start ?? 0;
        const stop = step.stop ?? 0;
        if (!fused) {
          mapStrings(pieces, (s) => stripChars(s, content, start, stop));
        } else {
          if (stop > 0) throw unsupported(step, 'with stop > 0 after Fuse (it would hold back the end of every stream)');
          if (start > 0) leadingStrip = { char: content, maxChars: start, firstTokenOnly: false };
        }
        break;
      }
      case 'Fuse':
        fused = true;
        break;
      default:
        throw unsupported(step, '');
    }
  }

  const vocabSize = pieces.length;
  const encoded = pieces.map((piece) => (piece === undefined ? undefined : typeof piece === 'string' ? encoder.encode(piece) : piece));
  const offsets = new Uint32Array(vocabSize + 1);
  for (let id = 0; id < vocabSize; id++) offsets[id + 1] = offsets[id]! + (encoded[id]?.length ?? 0);
  const bytes = new Uint8Array(offsets[vocabSize]!);
  const text = new Array<string | null>(vocabSize).fill(null);
  const hasToken = new Uint8Array(vocabSize);
  const isSpecial = new Uint8Array(vocabSize);
  const isAdded = new Uint8Array(vocabSize);
  for (let id = 0; id < vocabSize; id++) {
    const pieceBytes = encoded[id];
    if (pieceBytes === undefined) continue;
    bytes.set(pieceBytes, offsets[id]);
    hasToken[id] = 1;
    text[id] = completeUtf8(bytes, offsets[id]!, offsets[id + 1]!);
    if (specialIds.has(id)) isSpecial[id] = 1;
    if (addedIds.has(id)) isAdded[id] = 1;
  }
  return { vocabSize, bytes, offsets, hasToken, text, isSpecial, isAdded, leadingStrip };
}

function flatten(decoder: DecoderJson): DecoderJson[] {
  return decoder.type === 'Sequence' ? (decoder.decoders ?? []).flatMap(flatten) : [decoder];
}

function unsupported(step: DecoderJson, where: string): TokenizerLoadError {
  return new TokenizerLoadError(
    `tokenizer.json decoder step ${step.type}${where ? ` ${where}` : ''} is not supported by the incremental detokenizer`,
    'unsupported_decoder',
  );
}

function mapStrings(pieces: Array<Piece | undefined>, map: (s: string) => string): void {
  for (let id = 0; id < pieces.length; id++) {
    const piece = pieces[id];
    if (typeof piece === 'string') pieces[id] = map(piece);
  }
}

function stripChars(s: string, content: string, start: number, stop: number): string {
  let from = 0;
  while (from < start && s[from] === content) from++;
  let to = s.length;
  while (s.length - to < stop && to > from && s[to - 1] === content) to--;
  return s.slice(from, to);
}

/** The text of bytes[start..end) when it is complete, valid UTF-8 on its own; else null. */
function completeUtf8(bytes: Uint8Array, start: number, end: number): string | null {
  const decoder = new Utf8StreamDecoder();
  const text = decoder.decode(bytes, start, end);
  return decoder.hasPendingBytes || decoder.numInvalidSequences > 0 ? null : text;
}

let charToByteTable: Map<string, number> | undefined;

/**
 * GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * are shifted to U+0100.. so every byte has a visible character (`Ġ` is the space byte).
 */
export function byteLevelCharToByte(): Map<string, number> {
  if (charToByteTable) return charToByteTable;
  const table = new Map<string, number>();
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
    table.set(String.fromCharCode(printable ? byte : 256 + shifted++), byte);
  }
  charToByteTable = table;
  return table;
}
