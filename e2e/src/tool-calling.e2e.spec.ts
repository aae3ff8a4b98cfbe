import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { writeRandomModel } from '@deepinfer/testing';
import { withVllmParams } from './support/golden.js';
import { REPO_ROOT, startStack, type Stack } from './support/stack.js';

/**
 * Tool calling through the whole stack with the official openai client, on a random-weight
 * Llama 3.1 model (LlamaForCausalLM layout, the Llama 3 tokenizer) whose tokenizer_config.json
 * carries Llama 3.1's chat template (which renders tools and tool results; the @lenml tokenizer
 * ships 3.0's, which does not). The api reads the tool-call format from that template
 * (tool_call_parser auto → llama3_json).
 *
 * A random model writes garbage, so tool calls appear only where the grammar makes them:
 * tool_choice "required" or a named function. Those are checked for what a client relies on (an
 * id, the name, JSON arguments that validate against the parameters schema, finish_reason
 * tool_calls, streamed deltas that add up to the same call), then the round trip: the assistant
 * message with the call and a tool message go back, and a normal answer comes.
 */

const require = createRequire(import.meta.url);
// ajv (draft-07) is already in node_modules (eslint's); used here only to check outputs.
const Ajv = require('ajv') as new () => { validate(schema: object, data: unknown): boolean; errorsText(): string };
const ajv = new Ajv();

const LLAMA_31_TEMPLATE = fs.readFileSync(path.join(REPO_ROOT, 'libs/tokenizer-core/src/test-fixtures/llama-3.1-instruct.chat-template.jinja'), 'utf8');
const SERVED = 'llama-3.1-tools-random';

const WEATHER_PARAMS = {
  type: 'object',
  properties: {
    city: { type: 'string', maxLength: 10 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 7 },
  },
  required: ['city', 'unit', 'days'],
  additionalProperties: false,
};
const TIME_PARAMS = { type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'CET', 'PST'] } }, required: ['zone'], additionalProperties: false };
const TOOLS: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'The weather forecast for a city', parameters: WEATHER_PARAMS } },
  { type: 'function', function: { name: 'get_time', description: 'The time in a time zone', parameters: TIME_PARAMS } },
];
const SCHEMAS: Record<string, object> = { get_weather: WEATHER_PARAMS, get_time: TIME_PARAMS };
const MESSAGES: OpenAI.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'What is the weather in Paris?' },
];
const NAMED: OpenAI.ChatCompletionToolChoiceOption = { type: 'function', function: { name: 'get_weather' } };

function expectValidCall(call: OpenAI.ChatCompletionMessageToolCall | undefined, names = ['get_weather', 'get_time']): { name: string; args: unknown } {
  expect(call).toBeDefined();
  expect(call!.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
  expect(call!.type).toBe('function');
  const fn = (call as OpenAI.ChatCompletionMessageFunctionToolCall).function;
  expect(names).toContain(fn.name);
  const args = JSON.parse(fn.arguments) as unknown;
  if (!ajv.validate(SCHEMAS[fn.name]!, args)) throw new Error(`${fn.name} arguments ${fn.arguments}: ${ajv.errorsText()}`);
  return { name: fn.name, args };
}

describe('tool calling through the whole stack (Llama 3.1 format)', () => {
  let tmp: string;
  let stack: Stack;
  let client: OpenAI;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-tool-calling-'));
    const model = writeRandomModel({ architecture: 'llama', directory: path.join(tmp, SERVED), seed: 3, chatTemplate: LLAMA_31_TEMPLATE });
    stack = await startStack(['--model', model.directory]);
    client = new OpenAI({ baseURL: `http://127.0.0.1:${stack.apiPort}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120000 });
  });
  afterAll(async () => {
    if (stack) await stack.stop('SIGINT');
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a named function: one call with an id, the name and arguments that validate; finish_reason tool_calls; content null', async () => {
    const r = await client.chat.completions.create({ model: SERVED, messages: MESSAGES, tools: TOOLS, tool_choice: NAMED, temperature: 0 });
    const choice = r.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.role).toBe('assistant');
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toHaveLength(1);
    expect(expectValidCall(choice.message.tool_calls![0], ['get_weather']).name).toBe('get_weather');
    // The Llama 3.1 format: `{"name": …, "parameters": …}` then <|eot_id|>; nothing else was generated.
    expect(r.usage!.completion_tokens).toBeGreaterThan(5);
  });

  it('"required": every sampled call is to one of the tools and validates (several seeds)', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const r = await client.chat.completions.create({ model: SERVED, messages: MESSAGES, tools: TOOLS, tool_choice: 'required', temperature: 1, seed });
      expect(r.choices[0]!.finish_reason).toBe('tool_calls');
      // Llama 3.1's format has one call per message.
      expect(r.choices[0]!.message.tool_calls).toHaveLength(1);
      expectValidCall(r.choices[0]!.message.tool_calls![0]);
    }
  });

  it('streams the call as OpenAI deltas that add up to the non-streamed call', async () => {
    const whole = await client.chat.completions.create({ model: SERVED, messages: MESSAGES, tools: TOOLS, tool_choice: NAMED, temperature: 0 });
    const stream = await client.chat.completions.create({ model: SERVED, messages: MESSAGES, tools: TOOLS, tool_choice: NAMED, temperature: 0, stream: true });
    const calls = new Map<number, { id?: string; type?: string; name: string; arguments: string }>();
    let content = '';
    const finishes: (string | null)[] = [];
    let first = true;
    for await (const chunk of stream) {
      const c = chunk.choices[0]!;
      if (first) expect(c.delta.role).toBe('assistant');
      first = false;
      content += c.delta.content ?? '';
      for (const d of c.delta.tool_calls ?? []) {
        const call = calls.get(d.index) ?? { name: '', arguments: '' };
        if (d.id) call.id = d.id;
        if (d.type) call.type = d.type;
        call.name += d.function?.name ?? '';
        call.arguments += d.function?.arguments ?? '';
        calls.set(d.index, call);
      }
      finishes.push(c.finish_reason);
    }
    expect(content).toBe('');
    expect(finishes.at(-1)).toBe('tool_calls');
    expect(finishes.slice(0, -1).every((f) => f === null)).toBe(true);
    expect([...calls.keys()]).toEqual([0]);
    const streamed = calls.get(0)!;
    expect(streamed.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(streamed.type).toBe('function');
    const expected = (whole.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall).function;
    expect({ name: streamed.name, arguments: streamed.arguments }).toEqual(expected);
  });

  it('round trip: the call and its result go back through the template, and a normal answer comes', async () => {
    const first = await client.chat.completions.create({ model: SERVED, messages: MESSAGES, tools: TOOLS, tool_choice: NAMED, temperature: 0 });
    const call = first.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      ...MESSAGES,
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21, "sky": "clear"}' },
    ];
    const answer = await client.chat.completions.create(withVllmParams({ model: SERVED, messages, tools: TOOLS, temperature: 0, max_tokens: 12 }, { return_token_ids: true }));
    const choice = answer.choices[0]!;
    expect(typeof choice.message.content).toBe('string');
    expect(choice.message.tool_calls ?? []).toEqual([]);
    expect(['stop', 'length']).toContain(choice.finish_reason);
    // The prompt held the call in Llama 3.1's format and the result as an ipython turn.
    const promptIds = (answer as unknown as { prompt_token_ids: number[] }).prompt_token_ids;
    const res = await fetch(`http://127.0.0.1:${stack.apiPort}/detokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tokens: promptIds }) });
    const prompt = ((await res.json()) as { prompt: string }).prompt;
    expect(prompt).toContain(`{"name": "get_weather", "parameters": ${JSON.stringify(JSON.parse(call.function.arguments), null, 0).replace(/,"/g, ', "').replace(/":/g, '": ')}}`);
    // Llama 3.1's template writes a tool result with `tojson` (a string is "iterable" in Jinja), as transformers does.
    expect(prompt).toContain(`ipython\n\n${JSON.stringify('{"temperature": 21, "sky": "clear"}')}`);
    expect(prompt).toContain('Given the following functions');
  });

  it('tool_choice none: the tools are not rendered and the output is not parsed', async () => {
    const plain = await client.chat.completions.create({ model: SERVED, messages: MESSAGES, temperature: 0, max_tokens: 4 });
    const none = await client.chat.completions.create({ model: SERVED, messages: MESSAGES, tools: TOOLS, tool_choice: 'none', temperature: 0, max_tokens: 4 });
    expect(none.usage!.prompt_tokens).toBe(plain.usage!.prompt_tokens);
    expect(none.choices[0]!.message.content).toBe(plain.choices[0]!.message.content);
    const auto = await client.chat.completions.create({ model: SERVED, messages: MESSAGES, tools: TOOLS, temperature: 0, max_tokens: 4 });
    expect(auto.usage!.prompt_tokens).toBeGreaterThan(plain.usage!.prompt_tokens + 50);
  });

  it('refuses bad tools with a 400 naming the field', async () => {
    const bad = (params: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming>) =>
      client.chat.completions.create({ model: SERVED, messages: MESSAGES, max_tokens: 4, ...params } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    await expect(bad({ tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_news' } } })).rejects.toMatchObject({ status: 400, error: { param: 'tool_choice.function.name' } });
    await expect(bad({ tools: [{ type: 'function', function: { name: 'bad name' } }] })).rejects.toMatchObject({ status: 400, error: { param: 'tools[0].function.name' } });
    await expect(bad({ tool_choice: 'required' })).rejects.toMatchObject({ status: 400, error: { param: 'tool_choice' } });
    // A schema the grammar cannot enforce, when the choice is enforced: the keyword and its path.
    const oneOf = { type: 'object', properties: { q: { oneOf: [{ type: 'string' }, { type: 'integer' }] } } };
    await expect(bad({ tools: [{ type: 'function', function: { name: 'search', parameters: oneOf } }], tool_choice: 'required' })).rejects.toMatchObject({
      status: 400,
      error: { param: 'tools[0].function.parameters', message: expect.stringMatching(/\$\.properties\.q\.oneOf/) },
    });
    await expect(bad({ tools: TOOLS, tool_choice: 'required', response_format: { type: 'json_object' } })).rejects.toMatchObject({ status: 400, error: { param: 'tool_choice' } });
  });
});
