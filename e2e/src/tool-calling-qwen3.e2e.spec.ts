import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { writeRandomModel } from '@deepinfer/testing';
import { withVllmParams } from './support/golden.js';
import { startStack, type Stack } from './support/stack.js';

/**
 * Tool calling in the Hermes format (`<tool_call>\n{"name", "arguments"}\n</tool_call>`, several
 * per message) through the whole stack, on a random-weight Qwen3 model with Qwen3's tokenizer and
 * chat template (tool_call_parser auto → hermes). tool-calling.e2e.spec.ts covers the Llama 3.1
 * format and the 400s.
 */

const require = createRequire(import.meta.url);
// ajv (draft-07) is already in node_modules (eslint's); used here only to check outputs.
const Ajv = require('ajv') as new () => { validate(schema: object, data: unknown): boolean; errorsText(): string };
const ajv = new Ajv();

const SERVED = 'qwen3-tools-random';
const WEATHER_PARAMS = {
  type: 'object',
  properties: { city: { type: 'string', maxLength: 10 }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const TIME_PARAMS = { type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'CET', 'PST'] } }, required: ['zone'], additionalProperties: false };
const TOOLS: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: WEATHER_PARAMS } },
  { type: 'function', function: { name: 'get_time', description: 'The time in a time zone', parameters: TIME_PARAMS } },
];
const SCHEMAS: Record<string, object> = { get_weather: WEATHER_PARAMS, get_time: TIME_PARAMS };
const MESSAGES: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather and time in Paris?' }];

function expectValidCall(call: OpenAI.ChatCompletionMessageToolCall | undefined): OpenAI.ChatCompletionMessageFunctionToolCall {
  expect(call).toBeDefined();
  expect(call!.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
  expect(call!.type).toBe('function');
  const fn = (call as OpenAI.ChatCompletionMessageFunctionToolCall).function;
  expect(Object.keys(SCHEMAS)).toContain(fn.name);
  if (!ajv.validate(SCHEMAS[fn.name]!, JSON.parse(fn.arguments))) throw new Error(`${fn.name} arguments ${fn.arguments}: ${ajv.errorsText()}`);
  return call as OpenAI.ChatCompletionMessageFunctionToolCall;
}

describe('tool calling through the whole stack (Qwen3, Hermes format)', () => {
  let tmp: string;
  let stack: Stack;
  let client: OpenAI;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-tool-calling-qwen3-'));
    const model = writeRandomModel({ architecture: 'qwen3', directory: path.join(tmp, SERVED), seed: 5 });
    stack = await startStack(['--model', model.directory]);
    client = new OpenAI({ baseURL: `http://127.0.0.1:${stack.apiPort}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120000 });
  });
  afterAll(async () => {
    if (stack) await stack.stop('SIGINT');
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a named function without parallel calls: exactly one valid call, finish_reason tool_calls', async () => {
    const r = await client.chat.completions.create({ model: SERVED, messages: MESSAGES, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_time' } }, parallel_tool_calls: false, temperature: 0 });
    const choice = r.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toHaveLength(1);
    expect(expectValidCall(choice.message.tool_calls![0]).function.name).toBe('get_time');
  });

  it('"required" with parallel calls allowed: every call is valid, each with its own id', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await client.chat.completions.create({ model: SERVED, messages: MESSAGES, tools: TOOLS, tool_choice: 'required', temperature: 1, seed, max_tokens: 400 });
      const choice = r.choices[0]!;
      const calls = choice.message.tool_calls ?? [];
      expect(calls.length).toBeGreaterThanOrEqual(1);
      for (const call of calls) expectValidCall(call);
      expect(new Set(calls.map((c) => c.id)).size).toBe(calls.length);
      // Cut by max_tokens inside a further call: the complete ones are still returned.
      expect(['tool_calls', 'length']).toContain(choice.finish_reason);
    }
  });

  it('streams the calls as deltas that add up to the non-streamed ones', async () => {
    const params = { model: SERVED, messages: MESSAGES, tools: TOOLS, tool_choice: 'required' as const, temperature: 0, max_tokens: 300 };
    const whole = await client.chat.completions.create(params);
    const stream = await client.chat.completions.create({ ...params, stream: true });
    const calls: { id?: string; name: string; arguments: string }[] = [];
    let last: string | null = null;
    for await (const chunk of stream) {
      for (const d of chunk.choices[0]!.delta.tool_calls ?? []) {
        calls[d.index] ??= { name: '', arguments: '' };
        if (d.id) calls[d.index]!.id = d.id;
        calls[d.index]!.name += d.function?.name ?? '';
        calls[d.index]!.arguments += d.function?.arguments ?? '';
      }
      last = chunk.choices[0]!.finish_reason ?? last;
    }
    expect(last).toBe(whole.choices[0]!.finish_reason);
    expect(calls.map(({ name, arguments: a }) => ({ name, arguments: a }))).toEqual(whole.choices[0]!.message.tool_calls!.map((c) => (c as OpenAI.ChatCompletionMessageFunctionToolCall).function));
    for (const c of calls) expect(c.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
  });

  it('round trip: the call and its result go back through the template, and a normal answer comes', async () => {
    const first = await client.chat.completions.create({ model: SERVED, messages: MESSAGES, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_weather' } }, parallel_tool_calls: false, temperature: 0 });
    const call = expectValidCall(first.choices[0]!.message.tool_calls![0]);
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      ...MESSAGES,
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: 'sunny, 21 C' },
    ];
    const answer = await client.chat.completions.create(withVllmParams({ model: SERVED, messages, tools: TOOLS, temperature: 0, max_tokens: 12 }, { return_token_ids: true }));
    expect(typeof answer.choices[0]!.message.content).toBe('string');
    expect(['stop', 'length']).toContain(answer.choices[0]!.finish_reason);
    const promptIds = (answer as unknown as { prompt_token_ids: number[] }).prompt_token_ids;
    const res = await fetch(`http://127.0.0.1:${stack.apiPort}/detokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tokens: promptIds }) });
    const prompt = ((await res.json()) as { prompt: string }).prompt;
    const args = JSON.stringify(JSON.parse(call.function.arguments)).replace(/,"/g, ', "').replace(/":/g, '": ');
    expect(prompt).toContain(`<tool_call>\n{"name": "get_weather", "arguments": ${args}}\n</tool_call>`);
    expect(prompt).toContain('<tool_response>\nsunny, 21 C\n</tool_response>');
  });
});
