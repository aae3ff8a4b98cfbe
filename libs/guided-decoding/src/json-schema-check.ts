/**
 * What the api checks in a JSON schema before it is used for guided decoding, and how it is
 * rewritten for the grammar engine. The contract is that the output always validates against
 * the schema the client sent; so every keyword is either enforced exactly by xgrammar 0.1.27
 * (checked feature by feature in json-schema-check.spec.ts against its acceptance of strings),
 * rewritten here into an equivalent or stricter form it does enforce, a pure annotation, or
 * refused with a 400 naming it. Nothing is silently ignored.
 */

export class GuidedDecodingError extends Error {
  constructor(
    message: string,
    /** The request parameter at fault (e.g. `response_format.json_schema.schema`). */
    readonly param: string,
  ) {
    super(message);
    this.name = 'GuidedDecodingError';
  }
}

/** Keywords with no effect on validation (kept: xgrammar ignores them too). */
export const ANNOTATION_KEYWORDS = ['title', 'description', '$schema', '$id', '$comment', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly'] as const;

/** String formats xgrammar enforces (others, e.g. hostname or uri-reference, it ignores: refused). */
export const SUPPORTED_FORMATS = ['email', 'date', 'time', 'date-time', 'duration', 'uuid', 'ipv4', 'ipv6', 'uri'] as const;

/** Every keyword accepted, by where it applies (docs/api.md lists the same). */
export const SUPPORTED_KEYWORDS = {
  any: ['type', 'enum', 'const', 'anyOf', '$ref', '$defs', 'definitions', ...ANNOTATION_KEYWORDS],
  string: ['minLength', 'maxLength', 'pattern', 'format'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'],
  array: ['items', 'prefixItems', 'minItems', 'maxItems', 'uniqueItems (false only)'],
  object: ['properties', 'required', 'additionalProperties'],
} as const;

const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']);
const KNOWN = new Set<string>([
  ...SUPPORTED_KEYWORDS.any,
  ...SUPPORTED_KEYWORDS.string,
  ...SUPPORTED_KEYWORDS.number,
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'uniqueItems',
  ...SUPPORTED_KEYWORDS.object,
]);
/** Refused with a reason more helpful than "unsupported". */
const WHY: Record<string, string> = {
  oneOf: 'oneOf is not supported (exactly-one cannot be enforced while decoding); use anyOf',
  allOf: 'allOf is not supported; merge the subschemas',
  not: 'not is not supported',
  if: 'if/then/else is not supported',
  then: 'if/then/else is not supported',
  else: 'if/then/else is not supported',
  multipleOf: 'multipleOf is not supported',
  patternProperties: 'patternProperties is not supported',
  propertyNames: 'propertyNames is not supported',
  minProperties: 'minProperties is not supported',
  maxProperties: 'maxProperties is not supported',
  dependentRequired: 'dependentRequired is not supported',
  dependentSchemas: 'dependentSchemas is not supported',
  dependencies: 'dependencies is not supported',
  unevaluatedProperties: 'unevaluatedProperties is not supported',
  unevaluatedItems: 'unevaluatedItems is not supported',
  contains: 'contains is not supported',
  minContains: 'minContains is not supported',
  maxContains: 'maxContains is not supported',
  additionalItems: 'additionalItems is not supported; use prefixItems and items',
  $anchor: '$anchor is not supported',
  $dynamicRef: '$dynamicRef is not supported',
  $dynamicAnchor: '$dynamicAnchor is not supported',
  contentEncoding: 'contentEncoding is not supported',
  contentMediaType: 'contentMediaType is not supported',
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Checks `schema` (parsed JSON) and returns the schema text to compile. Throws
 * GuidedDecodingError naming the first unsupported feature and where it is
 * (`$.properties.age.multipleOf`).
 *
 * Rewrites: a `number` with bounds becomes an `integer` with the integer bounds inside them
 * (xgrammar 0.1.27's decimal range check accepts values outside the range, e.g. 2.5 for
 * maximum 2, and refuses some inside it): the output is then an integer in the range, which
 * validates; a range holding no integer is refused.
 */
export function prepareJsonSchema(schema: unknown, param: string): string {
  if (schema === true || (isObject(schema) && Object.keys(schema).length === 0)) return JSON.stringify({});
  if (!isObject(schema)) throw new GuidedDecodingError('the JSON schema must be an object', param);
  const defs = new Set<string>();
  for (const key of ['$defs', 'definitions'] as const) {
    const d = schema[key];
    if (d === undefined) continue;
    if (!isObject(d)) throw new GuidedDecodingError(`${key} must be an object`, `${param}.${key}`);
    for (const name of Object.keys(d)) defs.add(`#/${key}/${name}`);
  }
  const out = walk(schema, '$', { param, defs, root: true });
  return JSON.stringify(out);
}

interface Ctx {
  param: string;
  defs: Set<string>;
  root: boolean;
}

function fail(ctx: Ctx, path: string, message: string): never {
  throw new GuidedDecodingError(`unsupported JSON schema at ${path}: ${message}`, ctx.param);
}

function walk(node: Json | undefined, path: string, ctx: Ctx): Json {
  if (node === true) return {};
  if (node === false) fail(ctx, path, 'the schema `false` accepts nothing');
  if (!isObject(node)) fail(ctx, path, 'a subschema must be an object or a boolean');
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(node)) {
    const at = `${path}.${key}`;
    if (!KNOWN.has(key)) fail(ctx, at, WHY[key] ?? `the keyword "${key}" is not supported`);
    if (key === '$defs' || key === 'definitions') {
      if (!ctx.root || path !== '$') fail(ctx, at, `${key} is only supported at the root`);
      const defs: Record<string, Json> = {};
      for (const [name, sub] of Object.entries(value as Record<string, Json>)) defs[name] = walk(sub, `${at}.${name}`, { ...ctx, root: false });
      out[key] = defs;
      continue;
    }
    out[key] = value;
  }
  ctx = { ...ctx, root: false };
  const types = typesOf(node, path, ctx);
  const has = (k: string) => node[k] !== undefined;

  if (has('$ref')) {
    const ref = node['$ref'];
    if (typeof ref !== 'string' || !(ref === '#' || ctx.defs.has(ref))) fail(ctx, `${path}.$ref`, `only local references to "#" or to "#/$defs/<name>" / "#/definitions/<name>" are supported (got ${JSON.stringify(ref)})`);
    const others = Object.keys(node).filter((k) => k !== '$ref' && !(ANNOTATION_KEYWORDS as readonly string[]).includes(k) && k !== '$defs' && k !== 'definitions');
    if (others.length > 0) fail(ctx, `${path}.${others[0]}`, 'keywords beside $ref are not supported');
  }
  if (has('enum')) {
    if (!Array.isArray(node['enum']) || node['enum'].length === 0) fail(ctx, `${path}.enum`, 'enum must be a non-empty array');
  }
  if (has('anyOf')) {
    const alts = node['anyOf'];
    if (!Array.isArray(alts) || alts.length === 0) fail(ctx, `${path}.anyOf`, 'anyOf must be a non-empty array');
    out['anyOf'] = alts.map((a, i) => walk(a, `${path}.anyOf[${i}]`, ctx));
  }

  // Strings.
  for (const k of ['minLength', 'maxLength'] as const) if (has(k)) nonNegativeInt(node[k], `${path}.${k}`, ctx);
  if (has('pattern')) {
    if (typeof node['pattern'] !== 'string') fail(ctx, `${path}.pattern`, 'pattern must be a string');
    if (has('minLength') || has('maxLength') || has('format')) fail(ctx, `${path}.pattern`, 'pattern together with minLength, maxLength or format is not supported (put the length in the pattern)');
    checkRegexSyntax(node['pattern'], `${path}.pattern`, ctx);
  }
  if (has('format')) {
    const f = node['format'];
    if (typeof f !== 'string' || !(SUPPORTED_FORMATS as readonly string[]).includes(f)) fail(ctx, `${path}.format`, `the format ${JSON.stringify(f)} is not supported (supported: ${SUPPORTED_FORMATS.join(', ')})`);
    if (has('minLength') || has('maxLength')) fail(ctx, `${path}.format`, 'format together with minLength or maxLength is not supported');
  }
  if (has('minLength') && has('maxLength') && (node['minLength'] as number) > (node['maxLength'] as number)) fail(ctx, `${path}.minLength`, 'minLength exceeds maxLength');

  // Numbers.
  const bounds = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const;
  for (const k of bounds) if (has(k) && (typeof node[k] !== 'number' || !Number.isFinite(node[k]))) fail(ctx, `${path}.${k}`, `${k} must be a finite number`);
  if (bounds.some(has)) {
    if (!(types.size === 1 && (types.has('integer') || types.has('number')))) fail(ctx, path, 'numeric bounds need "type": "integer" or "type": "number" (alone)');
    // The integers inside the bounds (for integer and number alike; see above).
    let lo = -Infinity;
    let hi = Infinity;
    if (has('minimum')) lo = Math.max(lo, Math.ceil(node['minimum'] as number));
    if (has('exclusiveMinimum')) lo = Math.max(lo, Math.floor(node['exclusiveMinimum'] as number) + 1);
    if (has('maximum')) hi = Math.min(hi, Math.floor(node['maximum'] as number));
    if (has('exclusiveMaximum')) hi = Math.min(hi, Math.ceil(node['exclusiveMaximum'] as number) - 1);
    if (lo > hi) fail(ctx, path, types.has('number') ? 'a number range holding no integer is not supported' : 'the integer range is empty');
    if (!Number.isSafeInteger(lo === -Infinity ? 0 : lo) || !Number.isSafeInteger(hi === Infinity ? 0 : hi)) fail(ctx, path, 'bounds beyond ±2^53 are not supported');
    for (const k of bounds) delete out[k];
    out['type'] = 'integer';
    if (lo !== -Infinity) out['minimum'] = lo;
    if (hi !== Infinity) out['maximum'] = hi;
  }

  // Arrays.
  for (const k of ['minItems', 'maxItems'] as const) if (has(k)) nonNegativeInt(node[k], `${path}.${k}`, ctx);
  if (has('minItems') && has('maxItems') && (node['minItems'] as number) > (node['maxItems'] as number)) fail(ctx, `${path}.minItems`, 'minItems exceeds maxItems');
  if (has('uniqueItems') && node['uniqueItems'] !== false) fail(ctx, `${path}.uniqueItems`, 'uniqueItems: true is not supported');
  if (has('items')) {
    const items = node['items'];
    out['items'] = items === false ? false : walk(items as Json, `${path}.items`, ctx);
  }
  if (has('prefixItems')) {
    const p = node['prefixItems'];
    if (!Array.isArray(p)) fail(ctx, `${path}.prefixItems`, 'prefixItems must be an array');
    out['prefixItems'] = p.map((s, i) => walk(s, `${path}.prefixItems[${i}]`, ctx));
  }

  // Objects.
  if (has('properties')) {
    const props = node['properties'];
    if (!isObject(props)) fail(ctx, `${path}.properties`, 'properties must be an object');
    const walked: Record<string, Json> = {};
    for (const [name, sub] of Object.entries(props)) walked[name] = walk(sub, `${path}.properties.${name}`, ctx);
    out['properties'] = walked;
  }
  if (has('required')) {
    const req = node['required'];
    if (!Array.isArray(req) || !req.every((r) => typeof r === 'string')) fail(ctx, `${path}.required`, 'required must be an array of strings');
    const props = isObject(node['properties']) ? node['properties'] : {};
    // The grammar only produces listed properties, so a required one must be listed.
    const missing = req.find((r) => !Object.prototype.hasOwnProperty.call(props, r));
    if (missing !== undefined) fail(ctx, `${path}.required`, `"${missing}" is required but not in properties`);
  }
  if (has('additionalProperties')) {
    const ap = node['additionalProperties'];
    if (typeof ap !== 'boolean') out['additionalProperties'] = walk(ap, `${path}.additionalProperties`, ctx);
  }
  return out;
}

function typesOf(node: Record<string, Json>, path: string, ctx: Ctx): Set<string> {
  const t = node['type'];
  if (t === undefined) return new Set();
  const list = Array.isArray(t) ? t : [t];
  if (list.length === 0) fail(ctx, `${path}.type`, 'type must not be empty');
  for (const x of list) if (typeof x !== 'string' || !TYPES.has(x)) fail(ctx, `${path}.type`, `unknown type ${JSON.stringify(x)}`);
  return new Set(list as string[]);
}

function nonNegativeInt(v: Json | undefined, path: string, ctx: Ctx): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(ctx, path, 'must be an integer ≥ 0');
}

/**
 * Regex constructs xgrammar 0.1.27 cannot compile (it aborts on them): refused here with a
 * clear message. The JS RegExp parser catches plain syntax errors first.
 */
export function regexProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    return `invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  if (/\(\?<?[=!]/.test(pattern)) return 'lookahead and lookbehind assertions are not supported';
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences are not supported';
  if (/\\[pP]\{/.test(pattern)) return 'Unicode property escapes (\\p{…}) are not supported';
  if (/\\[bB]/.test(pattern.replace(/\[[^\]]*\]/g, ''))) return 'word-boundary assertions (\\b, \\B) are not supported';
  return undefined;
}

function checkRegexSyntax(pattern: string, path: string, ctx: Ctx): void {
  const problem = regexProblem(pattern);
  if (problem) fail(ctx, path, problem);
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
