import type { GuidedDecoding } from '@deepinfer/contracts';
import { checkGuidedGrammar, GuidedDecodingError, prepareJsonSchema, regexProblem } from '@deepinfer/guided-decoding';
import { OpenAIError } from './openai-error.js';

/**
 * The guided-decoding fields of a request, as OpenAI and vLLM name them. At most one may be
 * given (any two conflict: 400):
 * - `response_format`: `{type: "text"}` (nothing), `{type: "json_object"}`,
 *   `{type: "json_schema", json_schema: {name, schema, strict?, description?}}`;
 * - vLLM's older extensions `guided_json` (a schema, object or JSON text), `guided_regex`,
 *   `guided_choice` (strings);
 * - vLLM's newer `structured_outputs`: `{json | regex | choice | json_object: true}` (one key).
 * `guided_grammar`, `structured_outputs.grammar` / `.structural_tag` and `guided_decoding_backend`
 * other than "xgrammar" are refused, never ignored.
 */
export interface GuidedFields {
  response_format?: unknown;
  guided_json?: unknown;
  guided_regex?: unknown;
  guided_choice?: unknown;
  guided_grammar?: unknown;
  guided_decoding_backend?: unknown;
  guided_whitespace_pattern?: unknown;
  structured_outputs?: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The request's guided decoding, checked and normalised (no grammar compiled yet: see verifyGuidedGrammar). */
export function guidedDecodingOf(body: GuidedFields): GuidedDecoding | undefined {
  const found: { param: string; spec: GuidedDecoding }[] = [];
  for (const refused of ['guided_grammar', 'guided_whitespace_pattern'] as const) {
    if (body[refused] !== undefined) bad(`${refused} is not supported (supported: response_format, guided_json, guided_regex, guided_choice, structured_outputs)`, refused);
  }
  if (body.guided_decoding_backend !== undefined && body.guided_decoding_backend !== 'xgrammar') bad('guided_decoding_backend: only "xgrammar" is available', 'guided_decoding_backend');

  const rf = body.response_format;
  if (rf !== undefined) {
    if (!isObject(rf)) bad('response_format must be an object', 'response_format');
    if (rf['type'] === 'json_object') found.push({ param: 'response_format', spec: { kind: 'json_object' } });
    else if (rf['type'] === 'json_schema') {
      const js = rf['json_schema'];
      if (!isObject(js)) bad('response_format.json_schema must be an object with name and schema', 'response_format.json_schema');
      if (typeof js['name'] !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(js['name'])) bad('response_format.json_schema.name must be 1-64 letters, digits, underscores or dashes', 'response_format.json_schema.name');
      if (js['strict'] !== undefined && js['strict'] !== null && typeof js['strict'] !== 'boolean') bad('response_format.json_schema.strict must be a boolean', 'response_format.json_schema.strict');
      if (js['schema'] === undefined) bad('response_format.json_schema.schema is required', 'response_format.json_schema.schema');
      found.push({ param: 'response_format.json_schema.schema', spec: jsonSchema(js['schema'], js['strict'] !== false, 'response_format.json_schema.schema') });
    } else if (rf['type'] !== 'text') bad('response_format.type must be "text", "json_object" or "json_schema"', 'response_format.type');
  }
  if (body.guided_json !== undefined) found.push({ param: 'guided_json', spec: jsonSchema(parseMaybeText(body.guided_json, 'guided_json'), true, 'guided_json') });
  if (body.guided_regex !== undefined) found.push({ param: 'guided_regex', spec: regex(body.guided_regex, 'guided_regex') });
  if (body.guided_choice !== undefined) found.push({ param: 'guided_choice', spec: choice(body.guided_choice, 'guided_choice') });
  const so = body.structured_outputs;
  if (so !== undefined && so !== null) {
    if (!isObject(so)) bad('structured_outputs must be an object', 'structured_outputs');
    const keys = Object.keys(so).filter((k) => so[k] !== undefined && so[k] !== null && k !== 'disable_any_whitespace' && k !== 'disable_additional_properties');
    for (const k of keys) {
      const param = `structured_outputs.${k}`;
      if (k === 'json') found.push({ param, spec: jsonSchema(parseMaybeText(so[k], param), true, param) });
      else if (k === 'regex') found.push({ param, spec: regex(so[k], param) });
      else if (k === 'choice') found.push({ param, spec: choice(so[k], param) });
      else if (k === 'json_object') {
        if (so[k] !== true) bad(`${param} must be true`, param);
        found.push({ param, spec: { kind: 'json_object' } });
      } else bad(`${param} is not supported (supported: json, regex, choice, json_object)`, param);
    }
    for (const k of ['disable_any_whitespace', 'disable_additional_properties']) {
      // Our JSON has no free whitespace, and strict schemas no unlisted properties: both are
      // already the case; `false` would ask for the opposite, which we do not do.
      if (so[k] === false) bad(`structured_outputs.${k}: false is not supported (JSON output never has free whitespace or unlisted properties)`, `structured_outputs.${k}`);
    }
  }
  if (found.length > 1) bad(`only one guided-decoding field may be given; got ${found.map((f) => f.param).join(' and ')}`, found[1]!.param);
  return found[0]?.spec;
}

/** The last check, by xgrammar itself (without a vocabulary): a 400 with its message. */
export async function verifyGuidedGrammar(spec: GuidedDecoding, param: string): Promise<void> {
  try {
    await checkGuidedGrammar(spec);
  } catch (err) {
    throw OpenAIError.badRequest(`the grammar engine refused it: ${(err as Error).message}`, param);
  }
}

/** The parameter a GuidedDecoding came from, for verifyGuidedGrammar's 400. */
export function guidedParam(body: GuidedFields): string {
  if (body.response_format !== undefined) return 'response_format';
  if (body.guided_json !== undefined) return 'guided_json';
  if (body.guided_regex !== undefined) return 'guided_regex';
  if (body.guided_choice !== undefined) return 'guided_choice';
  return 'structured_outputs';
}

function bad(message: string, param: string): never {
  throw OpenAIError.badRequest(message, param);
}

function jsonSchema(schema: unknown, strict: boolean, param: string): GuidedDecoding {
  try {
    return { kind: 'json_schema', schema: prepareJsonSchema(schema, param), strict };
  } catch (err) {
    if (err instanceof GuidedDecodingError) throw OpenAIError.badRequest(err.message, err.param);
    throw err;
  }
}

function parseMaybeText(v: unknown, param: string): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    throw OpenAIError.badRequest(`${param} is not valid JSON`, param);
  }
}

function regex(v: unknown, param: string): GuidedDecoding {
  if (typeof v !== 'string' || v.length === 0) throw OpenAIError.badRequest(`${param} must be a non-empty string`, param);
  const problem = regexProblem(v);
  if (problem) throw OpenAIError.badRequest(`${param}: ${problem}`, param);
  return { kind: 'regex', pattern: v };
}

function choice(v: unknown, param: string): GuidedDecoding {
  if (!Array.isArray(v) || v.length === 0 || !v.every((c) => typeof c === 'string' && c.length > 0)) {
    throw OpenAIError.badRequest(`${param} must be a non-empty array of non-empty strings`, param);
  }
  return { kind: 'choice', choices: v as string[] };
}
