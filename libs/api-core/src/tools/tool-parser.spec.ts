import { createToolCallParser, HermesToolCallParser, Llama3JsonToolCallParser, newToolCallId, type ParsedToolCall, type ToolCallParser } from './tool-parser.js';

/** Feeds `text` in the given pieces; returns the content (concatenated) and the calls, in order. */
function run(parser: ToolCallParser, pieces: string[]): { content: string; calls: ParsedToolCall[]; streamed: string[] } {
  let content = '';
  const calls: ParsedToolCall[] = [];
  const streamed: string[] = [];
  for (const p of pieces) {
    const r = parser.push(p);
    content += r.content;
    streamed.push(r.content);
    calls.push(...r.calls);
  }
  const r = parser.finish();
  content += r.content;
  calls.push(...r.calls);
  return { content, calls, streamed };
}

/** Splits `text` at random places (seeded), sometimes into single characters. */
function randomSplit(text: string, seed: number): string[] {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pieces: string[] = [];
  let i = 0;
  while (i < text.length) {
    const n = rand() < 0.3 ? 1 : 1 + Math.floor(rand() * 12);
    pieces.push(text.slice(i, i + n));
    i += n;
  }
  return pieces;
}

let counter = 0;
const ids = () => `call_${++counter}`;

/** Every split of `text` gives what the whole text gives. */
function expectSplitInvariant(make: () => ToolCallParser, text: string): { content: string; calls: ParsedToolCall[] } {
  const whole = run(make(), [text]);
  const strip = (calls: ParsedToolCall[]) => calls.map(({ index, name, arguments: a }) => ({ index, name, arguments: a }));
  for (let seed = 1; seed <= 40; seed++) {
    const split = run(make(), randomSplit(text, seed));
    expect(split.content).toBe(whole.content);
    expect(strip(split.calls)).toEqual(strip(whole.calls));
  }
  return whole;
}

describe('newToolCallId', () => {
  it('is call_ and 24 letters or digits, different each time', () => {
    const a = newToolCallId();
    expect(a).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(newToolCallId()).not.toBe(a);
  });
});

describe('HermesToolCallParser (Hermes, Qwen 2.5/3)', () => {
  const make = (parallel = true) => new HermesToolCallParser({ parallel, newId: ids });

  it('finds several calls with text around them, in any split', () => {
    const text =
      'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call>\n' +
      '<tool_call>\n{"name": "get_time", "arguments": {"tz": "Europe/Paris"}}\n</tool_call>';
    const r = expectSplitInvariant(() => make(), text);
    expect(r.content).toBe('Let me check.');
    expect(r.calls.map(({ index, name, arguments: a }) => ({ index, name, args: JSON.parse(a) as unknown }))).toEqual([
      { index: 0, name: 'get_weather', args: { city: 'Paris', days: 2 } },
      { index: 1, name: 'get_time', args: { tz: 'Europe/Paris' } },
    ]);
    expect(r.calls[0]!.id).not.toBe(r.calls[1]!.id);
  });

  it('streams content at once, holding back only what may start <tool_call>', () => {
    const p = make();
    expect(p.push('Hello wor').content).toBe('Hello wor');
    expect(p.push('ld <tool').content).toBe('ld');
    expect(p.push('bar> x').content).toBe(' <toolbar> x');
    expect(p.finish()).toEqual({ content: '', calls: [] });
  });

  it('gives a call once its block closes', () => {
    const p = make();
    expect(p.push('<tool_call>\n{"name": "f", "argum')).toEqual({ content: '', calls: [] });
    const r = p.push('ents": {"a": [1, "}"]}}\n</tool_call>');
    expect(r.calls).toEqual([{ index: 0, id: expect.stringMatching(/^call_/), name: 'f', arguments: '{"a":[1,"}"]}' }]);
  });

  it('leaves malformed blocks as content, markers included', () => {
    const text = 'A <tool_call>{"name": "f", "arguments": {"a": }</tool_call> B <tool_call>[1]</tool_call>';
    const r = expectSplitInvariant(() => make(), text);
    expect(r.calls).toEqual([]);
    expect(r.content).toBe(text);
  });

  it('takes a block the output ends inside when its JSON is complete, else content', () => {
    expect(run(make(), ['<tool_call>\n{"name": "f", "arguments": {}}\n'])).toMatchObject({ content: '', calls: [{ name: 'f', arguments: '{}' }] });
    expect(run(make(), ['<tool_call>\n{"name": "f", "argu'])).toMatchObject({ content: '<tool_call>\n{"name": "f", "argu', calls: [] });
  });

  it('keeps the first call only with parallel_tool_calls false', () => {
    const text = '<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call>';
    const r = expectSplitInvariant(() => make(false), text);
    expect(r.calls.map((c) => c.name)).toEqual(['a']);
    expect(r.content).toBe('');
  });

  it('accepts "parameters" and arguments written as a JSON string', () => {
    const r = run(make(), ['<tool_call>{"name": "f", "parameters": {"x": 1}}</tool_call><tool_call>{"name": "g", "arguments": "{\\"y\\": 2}"}</tool_call>']);
    expect(r.calls.map((c) => [c.name, c.arguments])).toEqual([['f', '{"x":1}'], ['g', '{"y":2}']]);
  });

  it('gives text without calls unchanged, whitespace included', () => {
    const text = '  Just an answer.\n\n  With lines  \n';
    expect(expectSplitInvariant(() => make(), text)).toMatchObject({ content: text, calls: [] });
  });
});

describe('Llama3JsonToolCallParser (Llama 3.1+)', () => {
  const make = (parallel = true) => new Llama3JsonToolCallParser({ parallel, newId: ids });

  it('reads a call, with or without <|python_tag|>, in any split', () => {
    for (const text of ['{"name": "get_weather", "parameters": {"city": "Paris"}}', '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}', '\n {"name": "get_weather", "parameters": {"city": "Paris"}} \n']) {
      const r = expectSplitInvariant(() => make(), text);
      expect(r.content).toBe('');
      expect(r.calls).toMatchObject([{ index: 0, name: 'get_weather', arguments: '{"city":"Paris"}' }]);
    }
  });

  it('reads calls separated by ";" (one kept with parallel_tool_calls false)', () => {
    const text = '{"name": "a", "parameters": {"x": "1;2"}}; {"name": "b", "arguments": {}}';
    expect(expectSplitInvariant(() => make(), text).calls.map((c) => c.name)).toEqual(['a', 'b']);
    expect(expectSplitInvariant(() => make(false), text).calls.map((c) => c.name)).toEqual(['a']);
  });

  it('streams text that does not start with { at once, and never parses it', () => {
    const p = make();
    expect(p.push(' Hi').content).toBe(' Hi');
    expect(p.push(' {"name": "a", "parameters": {}}').content).toBe(' {"name": "a", "parameters": {}}');
    expect(p.finish().calls).toEqual([]);
  });

  it('holds output that starts with { to its end; JSON that is not a call is content', () => {
    for (const text of ['{"name": "a", "parameters": {', '{"answer": 42}', '{"name": "a", "parameters": {}} and more', '{"name": 3, "parameters": {}}', '<|python_tag|>print(1)']) {
      const p = make();
      const r = run(p, randomSplit(text, 3));
      expect(r.calls).toEqual([]);
      expect(r.content).toBe(text);
      if (text.startsWith('{')) expect(r.streamed.every((s) => s === '')).toBe(true);
    }
  });
});

describe('createToolCallParser', () => {
  it('picks the parser of the format', () => {
    expect(createToolCallParser('hermes')).toBeInstanceOf(HermesToolCallParser);
    expect(createToolCallParser('llama3_json')).toBeInstanceOf(Llama3JsonToolCallParser);
  });
});
