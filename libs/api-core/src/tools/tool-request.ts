import type { GuidedDecoding } from '@deepinfer/contracts';
import { GuidedDecodingError, prepareJsonSchema } from '@deepinfer/guided-decoding';
import { OpenAIError } from '../openai-error.js';
import type { ToolCallFormat } from './tool-format.js';

/** One function tool, checked. */
export interface ToolFunction {
  readonly name: string;
  /** The parameters' JSON schema as sent (an object schema; `{type: "object", properties: {}}` when absent). */
  readonly parameters: Record<string, unknown>;
}

export type ToolChoice = { readonly kind: 'none' } | { readonly kind: 'auto' } | { readonly kind: 'required' } | { readonly kind: 'function'; readonly name: string };

/**
 * A chat request's tools, checked: what the template is given, which calls are allowed and
 * enforced, how many.
 */
export interface ToolPlan {
  readonly functions: readonly ToolFunction[];
  /** `tools` as the client sent them: what the chat template renders (none for tool_choice none). */
  readonly tools: readonly unknown[];
  readonly choice: ToolChoice;
  /** parallel_tool_calls (default true): false allows at most one call. */
  readonly parallel: boolean;
}

/** The tool fields of a chat request (OpenAI's names). */
export interface ToolFields {
  tools?: unknown;
  tool_choice?: unknown;
  parallel_tool_calls?: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function bad(message: string, param: string): never {
  throw OpenAIError.badRequest(message, param);
}

/**
 * Checks `tools`, `tool_choice` and `parallel_tool_calls` (400s naming the field). undefined when
 * the request has no tools (tool_choice `none`/`auto` alone are no-ops; `required` or a named
 * function without tools is a 400, as OpenAI answers).
 */
export function toolPlanOf(body: ToolFields): ToolPlan | undefined {
  if (body.parallel_tool_calls !== undefined && body.parallel_tool_calls !== null && typeof body.parallel_tool_calls !== 'boolean') {
    bad('parallel_tool_calls must be a boolean', 'parallel_tool_calls');
  }
  const choiceRaw = body.tool_choice ?? undefined;
  if (body.tools === undefined || body.tools === null) {
    if (choiceRaw !== undefined && choiceRaw !== 'none' && choiceRaw !== 'auto') bad('tool_choice needs tools: only "none" or "auto" may be given without them', 'tool_choice');
    return undefined;
  }
  if (!Array.isArray(body.tools) || body.tools.length === 0) bad('tools must be a non-empty array of {"type": "function", "function": {...}}', 'tools');
  const functions: ToolFunction[] = [];
  body.tools.forEach((tool: unknown, i) => {
    const param = `tools[${i}]`;
    if (!isObject(tool)) bad(`${param} must be an object`, param);
    if (tool['type'] !== 'function') bad(`${param}.type must be "function" (the only tool type served)`, `${param}.type`);
    const fn = tool['function'];
    if (!isObject(fn)) bad(`${param}.function must be an object with a name`, `${param}.function`);
    const name = fn['name'];
    if (typeof name !== 'string' || !NAME.test(name)) bad(`${param}.function.name must be 1-64 letters, digits, underscores or dashes`, `${param}.function.name`);
    if (functions.some((f) => f.name === name)) bad(`${param}.function.name: "${name}" is defined twice`, `${param}.function.name`);
    if (fn['description'] !== undefined && fn['description'] !== null && typeof fn['description'] !== 'string') bad(`${param}.function.description must be a string`, `${param}.function.description`);
    if (fn['strict'] !== undefined && fn['strict'] !== null && typeof fn['strict'] !== 'boolean') bad(`${param}.function.strict must be a boolean`, `${param}.function.strict`);
    const parameters = fn['parameters'] ?? { type: 'object', properties: {} };
    if (!isObject(parameters)) bad(`${param}.function.parameters must be a JSON schema object`, `${param}.function.parameters`);
    if (parameters['type'] !== undefined && parameters['type'] !== 'object') {
      bad(`${param}.function.parameters must describe an object (type "object"): arguments are a JSON object`, `${param}.function.parameters`);
    }
    functions.push({ name, parameters });
  });

  let choice: ToolChoice;
  if (choiceRaw === undefined || choiceRaw === 'auto') choice = { kind: 'auto' };
  else if (choiceRaw === 'none') choice = { kind: 'none' };
  else if (choiceRaw === 'required') choice = { kind: 'required' };
  else if (isObject(choiceRaw)) {
    const fn = choiceRaw['function'];
    if (choiceRaw['type'] !== 'function' || !isObject(fn) || typeof fn['name'] !== 'string') {
      bad('tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}', 'tool_choice');
    }
    const name = fn['name'];
    if (!functions.some((f) => f.name === name)) bad(`tool_choice names the function "${name}", which is not in tools`, 'tool_choice.function.name');
    choice = { kind: 'function', name };
  } else {
    bad('tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}', 'tool_choice');
  }
  return { functions, tools: body.tools as unknown[], choice, parallel: body.parallel_tool_calls !== false };
}

/** Whether the tool choice is enforced by guided decoding (`required` or a named function). */
export function isEnforcedToolChoice(plan: ToolPlan | undefined): boolean {
  return plan !== undefined && (plan.choice.kind === 'required' || plan.choice.kind === 'function');
}

/**
 * The parameters' schemas of the functions an enforced tool choice allows, checked by the same
 * rules as response_format's (a 400 naming `tools[i].function.parameters` and the keyword),
 * ready for the grammar.
 */
function allowedSchemas(plan: ToolPlan): { name: string; schema: unknown }[] {
  const out: { name: string; schema: unknown }[] = [];
  plan.functions.forEach((f, i) => {
    if (plan.choice.kind === 'function' && plan.choice.name !== f.name) return;
    try {
      out.push({ name: f.name, schema: JSON.parse(prepareJsonSchema(f.parameters, `tools[${i}].function.parameters`)) as unknown });
    } catch (err) {
      if (err instanceof GuidedDecodingError) throw OpenAIError.badRequest(err.message, err.param);
      throw err;
    }
  });
  return out;
}

/**
 * The grammar that enforces `required` or a named function, in the model's own format: the output
 * is one call (or, for Hermes with parallel_tool_calls, one or more separated by newlines) to an
 * allowed function, whose arguments validate against its parameters schema; then the end of the
 * message. An xgrammar structural tag: each call is a tag whose begin fixes the name, whose
 * content is the parameters' JSON schema (laid out as json_schema output: see
 * layoutStructuralTag) and whose end closes the call.
 *
 * Llama 3.1's format carries one call per message (its template refuses to render an assistant
 * turn with several), so llama3_json always allows exactly one.
 */
export function toolChoiceGuided(plan: ToolPlan, format: ToolCallFormat): GuidedDecoding | undefined {
  if (!isEnforcedToolChoice(plan)) return undefined;
  const schemas = allowedSchemas(plan);
  const tags = schemas.map(({ name, schema }) =>
    format === 'hermes'
      ? { type: 'tag', begin: `<tool_call>\n{"name": ${JSON.stringify(name)}, "arguments": `, content: { type: 'json_schema', json_schema: schema }, end: '}\n</tool_call>' }
      : { type: 'tag', begin: `{"name": ${JSON.stringify(name)}, "parameters": `, content: { type: 'json_schema', json_schema: schema }, end: '}' },
  );
  const formatNode =
    format === 'hermes'
      ? { type: 'tags_with_separator', tags, separator: '\n', at_least_one: true, stop_after_first: !plan.parallel }
      : tags.length === 1 ? tags[0] : { type: 'or', elements: tags };
  return { kind: 'structural_tag', tag: JSON.stringify({ type: 'structural_tag', format: formatNode }) };
}
