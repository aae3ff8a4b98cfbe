import crypto from 'node:crypto';
import type { ToolCallFormat } from './tool-format.js';

/** One tool call found in the model's text, as OpenAI returns it. */
export interface ParsedToolCall {
  /** Position among the choice's calls (0, 1, …): the `index` of streamed tool-call deltas. */
  readonly index: number;
  /** `call_` + 24 random letters and digits (the model's formats carry no ids). */
  readonly id: string;
  readonly name: string;
  /** The arguments as JSON text (an object), re-serialised from what the model wrote. */
  readonly arguments: string;
}

/** What one push (or the finish) of text gives: content to show, and calls completed by it. */
export interface ToolParseResult {
  readonly content: string;
  readonly calls: readonly ParsedToolCall[];
}

export interface ToolCallParserOptions {
  /** false: only the first call is kept (parallel_tool_calls: false); later ones are dropped. */
  readonly parallel?: boolean;
  /** Makes call ids (tests); default `call_` + 24 random base-62 characters. */
  readonly newId?: () => string;
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** An OpenAI-style tool call id: `call_` + 24 random letters and digits. */
export function newToolCallId(): string {
  const bytes = crypto.randomBytes(24);
  let id = 'call_';
  for (const b of bytes) id += BASE62[b % 62];
  return id;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `{"name": …, "arguments" | "parameters": {…}}` as a call; undefined when the text is not that
 * (not JSON, no string name, arguments not an object).
 */
export function callFromJson(text: string): { name: string; arguments: Record<string, unknown> } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(value) || typeof value['name'] !== 'string' || value['name'].length === 0) return undefined;
  let args = value['arguments'] ?? value['parameters'] ?? {};
  if (typeof args === 'string') {
    // Some models write the arguments as a JSON string.
    try {
      args = JSON.parse(args);
    } catch {
      return undefined;
    }
  }
  if (!isObject(args)) return undefined;
  return { name: value['name'], arguments: args };
}

/**
 * Content text as it streams, with the whitespace around tool calls dropped: a run of trailing
 * whitespace is held until more content follows it (then it is emitted) or a call does (then it
 * is layout and dropped), and whitespace right after a call is dropped. An output without calls
 * comes out unchanged.
 */
class ContentSink {
  private out = '';
  private held = '';
  private afterCall = false;

  text(t: string): void {
    if (this.afterCall) {
      t = t.replace(/^\s+/, '');
      if (t === '') return;
      this.afterCall = false;
    }
    const trailing = /\s*$/.exec(t)!;
    const body = t.slice(0, trailing.index);
    if (body !== '') {
      this.out += this.held + body;
      this.held = trailing[0];
    } else {
      this.held += trailing[0];
    }
  }

  call(): void {
    this.held = '';
    this.afterCall = true;
  }

  finish(anyCalls: boolean): void {
    if (!anyCalls) this.out += this.held;
    this.held = '';
  }

  take(): string {
    const o = this.out;
    this.out = '';
    return o;
  }
}

/**
 * Turns a choice's generated text, pushed in pieces as it is detokenized, into content and tool
 * calls. Framework-free and incremental: any split of the same text gives the same content
 * (concatenated) and the same calls. A call is given whole (name and complete arguments) once its
 * end is seen, so that text which only looked like a call (malformed JSON, no name) can still
 * come out as content; content streams as it comes, except the few characters that may be the
 * start of a call marker.
 */
export abstract class ToolCallParser {
  protected readonly sink = new ContentSink();
  private readonly calls: ParsedToolCall[] = [];
  private pending: ParsedToolCall[] = [];
  private readonly parallel: boolean;
  private readonly newId: () => string;
  private finished = false;

  constructor(options: ToolCallParserOptions = {}) {
    this.parallel = options.parallel ?? true;
    this.newId = options.newId ?? newToolCallId;
  }

  /** Every call so far. */
  get toolCalls(): readonly ParsedToolCall[] {
    return this.calls;
  }

  push(text: string): ToolParseResult {
    if (this.finished) throw new Error('ToolCallParser: push after finish');
    this.consume(text);
    return this.take();
  }

  /** The end of the text: what was held back comes out (as calls or content). */
  finish(): ToolParseResult {
    if (!this.finished) {
      this.finished = true;
      this.flush();
      this.sink.finish(this.calls.length > 0);
    }
    return this.take();
  }

  protected abstract consume(text: string): void;
  protected abstract flush(): void;

  /** A call was found (in order); beyond the first with parallel_tool_calls false it is dropped. */
  protected addCall(call: { name: string; arguments: Record<string, unknown> }): void {
    this.sink.call();
    if (!this.parallel && this.calls.length > 0) return;
    const parsed: ParsedToolCall = { index: this.calls.length, id: this.newId(), name: call.name, arguments: JSON.stringify(call.arguments) };
    this.calls.push(parsed);
    this.pending.push(parsed);
  }

  private take(): ToolParseResult {
    const calls = this.pending;
    this.pending = [];
    return { content: this.sink.take(), calls };
  }
}

/** How many characters at the end of `text` could be the start of `marker`. */
function partialSuffix(text: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--) {
    if (marker.startsWith(text.slice(text.length - n))) return n;
  }
  return 0;
}

const TOOL_CALL_OPEN = '<tool_call>';
const TOOL_CALL_CLOSE = '</tool_call>';

/**
 * Hermes / Qwen: `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`, any number, with
 * content before, between and after. A block whose JSON is not a call stays content, markers
 * included; a block the output ends inside (no `</tool_call>`) is a call if its JSON is complete.
 */
export class HermesToolCallParser extends ToolCallParser {
  private buf = '';
  private inCall = false;

  protected consume(text: string): void {
    this.buf += text;
    this.scan(false);
  }

  protected flush(): void {
    this.scan(true);
  }

  private scan(final: boolean): void {
    for (;;) {
      if (!this.inCall) {
        const i = this.buf.indexOf(TOOL_CALL_OPEN);
        if (i >= 0) {
          this.sink.text(this.buf.slice(0, i));
          this.buf = this.buf.slice(i + TOOL_CALL_OPEN.length);
          this.inCall = true;
          continue;
        }
        const keep = final ? 0 : partialSuffix(this.buf, TOOL_CALL_OPEN);
        this.sink.text(this.buf.slice(0, this.buf.length - keep));
        this.buf = this.buf.slice(this.buf.length - keep);
        return;
      }
      const j = this.buf.indexOf(TOOL_CALL_CLOSE);
      if (j >= 0) {
        this.block(this.buf.slice(0, j), TOOL_CALL_OPEN + this.buf.slice(0, j + TOOL_CALL_CLOSE.length));
        this.buf = this.buf.slice(j + TOOL_CALL_CLOSE.length);
        this.inCall = false;
        continue;
      }
      if (final) {
        this.block(this.buf, TOOL_CALL_OPEN + this.buf);
        this.buf = '';
        this.inCall = false;
      }
      return;
    }
  }

  private block(body: string, raw: string): void {
    const call = callFromJson(body.trim());
    if (call) this.addCall(call);
    else this.sink.text(raw);
  }
}

const PYTHON_TAG = '<|python_tag|>';

/**
 * Llama 3.1 JSON tool calls: the whole message is `{"name": …, "parameters": {…}}` (or several
 * separated by `;`), possibly after `<|python_tag|>`. An output that starts with anything else is
 * content, streamed as it comes; one that starts with `{` is held to its end, then given as calls
 * if every object in it is one, else as content.
 */
export class Llama3JsonToolCallParser extends ToolCallParser {
  private buf = '';
  private state: 'start' | 'text' | 'json' = 'start';

  protected consume(text: string): void {
    this.buf += text;
    if (this.state === 'start') this.decide(false);
    if (this.state === 'text') {
      this.sink.text(this.buf);
      this.buf = '';
    }
  }

  protected flush(): void {
    if (this.state === 'start') this.decide(true);
    if (this.state === 'text') {
      this.sink.text(this.buf);
      this.buf = '';
      return;
    }
    const calls = splitJsonObjects(this.afterTag());
    if (calls) for (const c of calls) this.addCall(c);
    else this.sink.text(this.buf);
    this.buf = '';
  }

  /** The text after leading whitespace and `<|python_tag|>`. */
  private afterTag(): string {
    const s = this.buf.trimStart();
    return s.startsWith(PYTHON_TAG) ? s.slice(PYTHON_TAG.length).trimStart() : s;
  }

  private decide(final: boolean): void {
    const s = this.buf.trimStart();
    if (!final && (s === '' || (PYTHON_TAG.startsWith(s) && s.length < PYTHON_TAG.length))) return;
    const rest = this.afterTag();
    if (!final && rest === '' && s.startsWith(PYTHON_TAG)) return;
    this.state = rest.startsWith('{') ? 'json' : 'text';
  }
}

/** `{…}` objects separated by `;` (and whitespace), each a call; undefined if the text is anything else. */
function splitJsonObjects(text: string): { name: string; arguments: Record<string, unknown> }[] | undefined {
  const calls: { name: string; arguments: Record<string, unknown> }[] = [];
  let i = 0;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  skip();
  while (i < text.length) {
    if (text[i] !== '{') return undefined;
    const end = objectEnd(text, i);
    if (end < 0) return undefined;
    const call = callFromJson(text.slice(i, end));
    if (!call) return undefined;
    calls.push(call);
    i = end;
    skip();
    if (i < text.length) {
      if (text[i] !== ';') return undefined;
      i++;
      skip();
    }
  }
  return calls.length > 0 ? calls : undefined;
}

/** The index after the `}` that closes the object opening at `start` (strings and escapes respected); -1 if it never closes. */
function objectEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

export function createToolCallParser(format: ToolCallFormat, options: ToolCallParserOptions = {}): ToolCallParser {
  return format === 'hermes' ? new HermesToolCallParser(options) : new Llama3JsonToolCallParser(options);
}
