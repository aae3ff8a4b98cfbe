import { guidedDecodingKey, type GuidedDecoding } from '@deepinfer/contracts';
import { byteLevelCharToByte } from '@deepinfer/tokenizer-core';
import { loadXGrammar, withCapturedAbort, type XgCompiledGrammar, type XgGrammarCompiler, type XgGrammarMatcher, type XgTokenizerInfo } from './xgrammar.js';

/**
 * How JSON is laid out: no free whitespace (a model that cannot write JSON would otherwise
 * wander in spaces), `", "` and `": "` separators, one line. Fixed, so that the same schema
 * always gives the same grammar.
 */
const JSON_LAYOUT = { anyWhitespace: false, indent: -1, separators: [', ', ': '] as [string, string] };

/**
 * json_object: any JSON object (OpenAI's JSON mode), in the same layout; not xgrammar's built-in
 * JSON grammar, which also allows arrays, scalars and free whitespace. strictMode false: any
 * properties.
 */
const JSON_OBJECT_SCHEMA = '{"type": "object"}';

/** The xgrammar structural tag for a regex or a choice list. */
export function structuralTagOf(spec: GuidedDecoding): unknown {
  switch (spec.kind) {
    case 'regex':
      return { type: 'structural_tag', format: { type: 'regex', pattern: spec.pattern } };
    case 'choice':
      return { type: 'structural_tag', format: { type: 'or', elements: spec.choices.map((value) => ({ type: 'const_string', value })) } };
    case 'structural_tag':
      return JSON.parse(spec.tag) as unknown;
    default:
      throw new Error(`no structural tag for ${spec.kind}`);
  }
}

/**
 * A structural tag with every `json_schema` format inside it replaced by a `grammar` format: the
 * EBNF xgrammar's JSON-schema converter makes in our JSON_LAYOUT, strict. xgrammar's own
 * structural-tag JSON uses free whitespace (`[ \n\t]*` between tokens), which a model that cannot
 * write JSON would wander in; this keeps tool-call arguments in the same layout as json_schema
 * output.
 */
export async function layoutStructuralTag(tag: unknown): Promise<unknown> {
  const xg = await loadXGrammar();
  const walk = async (node: unknown): Promise<unknown> => {
    if (Array.isArray(node)) return Promise.all(node.map(walk));
    if (typeof node !== 'object' || node === null) return node;
    const o = node as Record<string, unknown>;
    if (o['type'] === 'json_schema' && 'json_schema' in o) {
      const schema = typeof o['json_schema'] === 'string' ? o['json_schema'] : JSON.stringify(o['json_schema']);
      const grammar = await withCapturedAbort(() => xg.Testings._jsonSchemaToEBNF(schema, JSON_LAYOUT.anyWhitespace, JSON_LAYOUT.indent, JSON_LAYOUT.separators, true));
      return { type: 'grammar', grammar };
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) out[k] = await walk(v);
    return out;
  };
  return walk(tag);
}

/** The xgrammar structural tag of a spec, with JSON laid out as everywhere else (layoutStructuralTag). */
async function structuralTagFor(spec: GuidedDecoding): Promise<unknown> {
  const tag = structuralTagOf(spec);
  return spec.kind === 'structural_tag' ? layoutStructuralTag(tag) : tag;
}

/**
 * Compiles `spec` without a vocabulary, only to find out whether xgrammar accepts it (the api's
 * last check before a 400): resolves, or rejects with xgrammar's own message.
 */
export async function checkGuidedGrammar(spec: GuidedDecoding): Promise<void> {
  const xg = await loadXGrammar();
  const input = await grammarInputOf(spec);
  const grammar = await withCapturedAbort(() =>
    'schema' in input
      ? xg.Grammar.fromJSONSchema(input.schema, JSON_LAYOUT.anyWhitespace, JSON_LAYOUT.indent, JSON_LAYOUT.separators, input.strict)
      : xg.Grammar.fromStructuralTag(input.tag),
  );
  grammar.dispose();
}

/**
 * What xgrammar builds a spec's grammar from, for both the check above and the compiler: a JSON
 * schema (json_object is any object) with its strictness, or a structural tag (regex, choice,
 * tool calls).
 */
async function grammarInputOf(spec: GuidedDecoding): Promise<{ schema: string; strict: boolean } | { tag: unknown }> {
  if (spec.kind === 'json_object') return { schema: JSON_OBJECT_SCHEMA, strict: false };
  if (spec.kind === 'json_schema') return { schema: spec.schema, strict: spec.strict };
  return { tag: await structuralTagFor(spec) };
}

/**
 * xgrammar cannot compile a spec's grammar against the vocabulary (GuidedGrammars.compile): the
 * request's fault, not the executor's. Any other error on the way (the tokenizer.json cannot be
 * read, a worker died) is the executor's own failure.
 */
export class GrammarCompileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GrammarCompileError';
  }
}

/** A model's vocabulary as xgrammar needs it: every token's text as in tokenizer.json. */
export interface GuidedVocabulary {
  /** [vocabSize]: the token strings of tokenizer.json (byte-level or sentencepiece pieces); '' for ids the tokenizer lacks. */
  encodedVocab: string[];
  /** xgrammar's decoding of those strings into bytes. */
  vocabType: 'byte_level' | 'byte_fallback' | 'raw';
}

interface TokenizerJson {
  model?: { vocab?: Record<string, number> | [string, number][] };
  added_tokens?: { id: number; content: string }[];
  decoder?: { type?: string; decoders?: { type?: string }[] } | null;
}

/**
 * The vocabulary from a parsed tokenizer.json, sized to the model's vocabulary (the engine's
 * logits: masks have ceil(vocabSize / 32) words; ids the tokenizer does not define are never
 * allowed).
 */
export function vocabularyFromTokenizerJson(json: unknown, vocabSize: number): GuidedVocabulary {
  const t = json as TokenizerJson;
  const encodedVocab = new Array<string>(vocabSize).fill('');
  const vocab = t.model?.vocab;
  if (Array.isArray(vocab)) {
    vocab.forEach(([piece], id) => {
      if (id < vocabSize) encodedVocab[id] = piece;
    });
  } else if (vocab) {
    for (const [piece, id] of Object.entries(vocab)) if (id < vocabSize) encodedVocab[id] = piece;
  }
  for (const a of t.added_tokens ?? []) if (a.id < vocabSize) encodedVocab[a.id] = a.content;
  const decoders = [t.decoder?.type, ...(t.decoder?.decoders ?? []).map((d) => d.type)];
  const vocabType = decoders.includes('ByteLevel') ? 'byte_level' : decoders.includes('ByteFallback') ? 'byte_fallback' : 'raw';
  return { encodedVocab, vocabType };
}

/** A token's bytes (as xgrammar decodes it). */
export function tokenBytes(piece: string, vocabType: GuidedVocabulary['vocabType']): Uint8Array {
  if (vocabType === 'byte_level') {
    const out: number[] = [];
    for (const ch of piece) {
      const b = byteLevelCharToByte().get(ch);
      if (b !== undefined) out.push(b);
      else out.push(...Buffer.from(ch, 'utf8'));
    }
    return Uint8Array.from(out);
  }
  if (vocabType === 'byte_fallback') {
    const hex = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
    if (hex) return Uint8Array.of(parseInt(hex[1]!, 16));
    return Buffer.from(piece.replace(/\u2581/g, ' '), 'utf8');
  }
  return Buffer.from(piece, 'utf8');
}

/** Whether a token's decoded bytes contain a control character (U+0000–U+001F). */
function hasControlByte(piece: string, vocabType: GuidedVocabulary['vocabType']): boolean {
  if (vocabType === 'byte_level') {
    for (const ch of piece) {
      const b = byteLevelCharToByte().get(ch);
      if (b !== undefined && b < 0x20) return true;
    }
    return false;
  }
  if (vocabType === 'byte_fallback') {
    const hex = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
    if (hex) return parseInt(hex[1]!, 16) < 0x20;
  }
  for (let i = 0; i < piece.length; i++) if (piece.charCodeAt(i) < 0x20) return true;
  return false;
}

/**
 * Tokens without control characters. xgrammar 0.1.27's JSON string rule lets raw control
 * characters (e.g. U+0011) into strings, which JSON forbids; our JSON layout never needs one
 * outside strings either (no free whitespace), so JSON masks are intersected with this.
 */
export function controlFreeMask(vocab: GuidedVocabulary, stopTokenIds: readonly number[]): Uint32Array {
  const mask = new Uint32Array(Math.ceil(vocab.encodedVocab.length / 32));
  vocab.encodedVocab.forEach((piece, id) => {
    // Also bytes that never occur in UTF-8 (C0, C1, F5–FF), which xgrammar takes for lead bytes.
    const bad = hasControlByte(piece, vocab.vocabType) || tokenBytes(piece, vocab.vocabType).some((b) => b === 0xc0 || b === 0xc1 || b >= 0xf5);
    if (!bad) mask[id >>> 5]! |= 1 << (id & 31);
  });
  for (const id of stopTokenIds) mask[id >>> 5]! |= 1 << (id & 31);
  return mask;
}

/**
 * controlFreeMask plus the tokens that are only newlines: the mask structural tags (tool calls)
 * are intersected with. Their fixed text has newlines between the JSON parts (Hermes's
 * `<tool_call>\n{…}\n</tool_call>`, and `\n` between calls), which must stay reachable where
 * they compete with other tokens (after `</tool_call>`: another call or the end); JSON strings
 * inside still get no raw control character but `\n` (the grammar itself refuses it there).
 */
export function toolCallMask(vocab: GuidedVocabulary, stopTokenIds: readonly number[]): Uint32Array {
  const mask = controlFreeMask(vocab, stopTokenIds);
  vocab.encodedVocab.forEach((piece, id) => {
    const b = tokenBytes(piece, vocab.vocabType);
    if (b.length > 0 && b.every((x) => x === 0x0a)) mask[id >>> 5]! |= 1 << (id & 31);
  });
  return mask;
}

/**
 * UTF-8's second-byte ranges after the lead bytes where not every continuation byte is valid
 * (overlong forms, surrogates, beyond U+10FFFF). xgrammar accepts any continuation there, which
 * would decode to U+FFFD; JSON masks also ban tokens starting outside the valid range.
 */
const SECOND_BYTE: Record<number, [number, number]> = { 0xe0: [0xa0, 0xbf], 0xed: [0x80, 0x9f], 0xf0: [0x90, 0xbf], 0xf4: [0x80, 0x8f] };

/** Per lead byte of SECOND_BYTE: the tokens allowed right after it (others start outside the range). */
export function utf8SecondByteMasks(vocab: GuidedVocabulary): Map<number, Uint32Array> {
  const masks = new Map<number, Uint32Array>();
  const first = vocab.encodedVocab.map((p) => tokenBytes(p, vocab.vocabType)[0]);
  for (const [lead, [lo, hi]] of Object.entries(SECOND_BYTE)) {
    const m = new Uint32Array(Math.ceil(vocab.encodedVocab.length / 32)).fill(0xffffffff);
    first.forEach((b, id) => {
      if (b !== undefined && b >= 0x80 && b <= 0xbf && (b < lo || b > hi)) m[id >>> 5]! &= ~(1 << (id & 31));
    });
    masks.set(Number(lead), m);
  }
  return masks;
}

/**
 * One guided request's grammar state: advanced with every token the request samples, asked
 * for the mask of the next one.
 */
export class GuideMatcher {
  private terminated = false;

  constructor(
    private readonly matcher: XgGrammarMatcher,
    private readonly stopTokenIds: readonly number[],
    private readonly numWords: number,
    /** Intersected with every mask (JSON: no control characters), unless that leaves nothing. */
    private readonly restrict?: { always: Uint32Array; afterLead: Map<number, Uint32Array>; bytes: (id: number) => Uint8Array },
  ) {}

  /** The last byte of the output when it is a lead byte whose next byte is restricted (JSON only). */
  private pendingLead = -1;
  /** Time of the accepts since the last mask, ms (part of the next token's cost). */
  private acceptMs = 0;
  /** Milliseconds the last nextMask() computed, with the accepts before it (the cost per token). */
  lastMaskMs = 0;

  /**
   * Advances by a sampled token. False when the grammar refuses it (never for a token sampled
   * under this matcher's mask); the matcher is then unchanged.
   */
  accept(tokenId: number): boolean {
    if (this.terminated) return false;
    const started = performance.now();
    const ok = this.acceptToken(tokenId);
    this.acceptMs += performance.now() - started;
    return ok;
  }

  private acceptToken(tokenId: number): boolean {
    const ok = this.matcher.acceptToken(tokenId);
    if (ok && this.matcher.isTerminated()) this.terminated = true;
    if (ok && this.restrict) {
      const b = this.restrict.bytes(tokenId);
      const last = b.length > 0 ? b[b.length - 1]! : -1;
      this.pendingLead = this.restrict.afterLead.has(last) ? last : b.length > 0 ? -1 : this.pendingLead;
    }
    return ok;
  }

  /** True once a stop token ended the grammar (the request stops there). */
  get isTerminated(): boolean {
    return this.terminated;
  }

  /**
   * The tokens allowed next, as the engine's bitmask ([ceil(vocab/32)] words). Once the grammar
   * has ended (a step already sent may still sample once), only the stop tokens.
   */
  async nextMask(): Promise<Uint32Array> {
    const started = performance.now();
    const mask = await this.computeMask();
    this.lastMaskMs = this.acceptMs + (performance.now() - started);
    this.acceptMs = 0;
    return mask;
  }

  private async computeMask(): Promise<Uint32Array> {
    if (this.terminated) {
      const mask = new Uint32Array(this.numWords);
      for (const id of this.stopTokenIds) mask[id >>> 5]! |= 1 << (id & 31);
      return mask;
    }
    const bits = await this.matcher.getNextTokenBitmask();
    const mask = new Uint32Array(bits.buffer, bits.byteOffset, this.numWords);
    if (this.restrict) {
      this.intersect(mask, this.restrict.always);
      const lead = this.restrict.afterLead.get(this.pendingLead);
      if (lead) this.intersect(mask, lead);
    }
    return mask;
  }

  private intersect(mask: Uint32Array, r: Uint32Array): void {
    let any = 0;
    for (let i = 0; i < mask.length; i++) any |= mask[i]! & r[i]!;
    if (any !== 0) for (let i = 0; i < mask.length; i++) mask[i]! &= r[i]!;
  }

  dispose(): void {
    this.matcher.dispose();
  }
}

export interface GuidedGrammarsOptions {
  /**
   * Compiled grammars kept (least recently used dropped first). Default 64. Infinity: the owner
   * decides what goes (forget()), as GuideWorkerPool does for its workers.
   */
  cacheSize?: number;
}

/**
 * The grammar side of one model: its vocabulary compiled once into xgrammar's tokenizer info,
 * compiled grammars cached by their spec, and a matcher per guided request.
 */
export class GuidedGrammars {
  private readonly cache = new Map<string, Promise<XgCompiledGrammar>>();
  private readonly cacheSize: number;

  private constructor(
    private readonly compiler: XgGrammarCompiler,
    private readonly tokenizerInfo: XgTokenizerInfo,
    readonly vocabSize: number,
    readonly stopTokenIds: readonly number[],
    private readonly jsonRestrict: { always: Uint32Array; afterLead: Map<number, Uint32Array>; bytes: (id: number) => Uint8Array },
    private readonly toolCallRestrict: { always: Uint32Array; afterLead: Map<number, Uint32Array>; bytes: (id: number) => Uint8Array },
    options: GuidedGrammarsOptions,
  ) {
    this.cacheSize = options.cacheSize ?? 64;
  }

  /** Builds the vocabulary's token tables (~0.2 s for 128K tokens). */
  static async create(vocab: GuidedVocabulary, stopTokenIds: readonly number[], options: GuidedGrammarsOptions = {}): Promise<GuidedGrammars> {
    const xg = await loadXGrammar();
    const vocabSize = vocab.encodedVocab.length;
    const info = await withCapturedAbort(() => xg.TokenizerInfo.createTokenizerInfo(vocab.encodedVocab, vocab.vocabType, false, vocabSize, [...stopTokenIds]));
    const compiler = await xg.GrammarCompiler.createGrammarCompiler(info, false);
    const bytes = vocab.encodedVocab.map((p) => tokenBytes(p, vocab.vocabType));
    const afterLead = utf8SecondByteMasks(vocab);
    const bytesOf = (id: number) => bytes[id] ?? new Uint8Array(0);
    const restrict = { always: controlFreeMask(vocab, stopTokenIds), afterLead, bytes: bytesOf };
    const toolRestrict = { always: toolCallMask(vocab, stopTokenIds), afterLead, bytes: bytesOf };
    return new GuidedGrammars(compiler, info, vocabSize, stopTokenIds, restrict, toolRestrict, options);
  }

  /** Compiles (or finds in the cache) the grammar of `spec`; rejects with GrammarCompileError when xgrammar cannot. */
  compile(spec: GuidedDecoding): Promise<XgCompiledGrammar> {
    const key = guidedDecodingKey(spec);
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const compiled = (async () => {
      try {
        const input = await grammarInputOf(spec);
        return await withCapturedAbort(() =>
          'schema' in input
            ? this.compiler.compileJSONSchema(input.schema, JSON_LAYOUT.anyWhitespace, JSON_LAYOUT.indent, JSON_LAYOUT.separators, input.strict)
            : this.compiler.compileStructuralTag(input.tag),
        );
      } catch (err) {
        throw new GrammarCompileError(err instanceof Error ? err.message : String(err), { cause: err });
      }
    })();
    this.cache.set(key, compiled);
    compiled.catch(() => this.cache.delete(key));
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value as string;
      const dropped = this.cache.get(oldest)!;
      this.cache.delete(oldest);
      // Matchers made from it keep their own state; the compiled grammar can go.
      void dropped.then((g) => g.dispose(), () => undefined);
    }
    return compiled;
  }

  /**
   * Drops the compiled grammar of the spec whose guidedDecodingKey is `key`, if cached (its
   * matchers keep their own state); the next compile() of it compiles again.
   */
  forget(key: string): void {
    const dropped = this.cache.get(key);
    if (!dropped) return;
    this.cache.delete(key);
    void dropped.then((g) => g.dispose(), () => undefined);
  }

  /** A fresh matcher for one request, already advanced over `outputTokenIds` (a resumed request). */
  async matcher(spec: GuidedDecoding, outputTokenIds: readonly number[] = []): Promise<GuideMatcher> {
    const compiled = await this.compile(spec);
    const xg = await loadXGrammar();
    const json = spec.kind === 'json_object' || spec.kind === 'json_schema';
    const m = new GuideMatcher(
      await xg.GrammarMatcher.createGrammarMatcher(compiled, [...this.stopTokenIds], false),
      this.stopTokenIds,
      Math.ceil(this.vocabSize / 32),
      json ? this.jsonRestrict : spec.kind === 'structural_tag' ? this.toolCallRestrict : undefined,
    );
    for (const t of outputTokenIds) {
      if (!m.accept(t)) throw new Error(`guided decoding: output token ${t} does not follow the grammar`);
    }
    return m;
  }

  dispose(): void {
    this.compiler.dispose();
    this.tokenizerInfo.dispose();
  }
}
