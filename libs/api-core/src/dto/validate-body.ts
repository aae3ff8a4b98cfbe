import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync, type ValidationError } from 'class-validator';
import { flattenValidationErrors } from '@deepinfer/contracts';
import { OpenAIError } from '../openai-error.js';

/**
 * Deepest nesting of arrays and objects a request body may have. Real requests (messages with
 * content parts, tool definitions, JSON schemas) stay far below it; without a limit, a body
 * nested a few thousand levels deep overflowed the stack of the recursive validation (a 500).
 */
export const MAX_BODY_NESTING = 64;

export interface ValidateBodyOptions {
  /**
   * Fields the DTO does not declare (at the top level and in nested DTOs, such as
   * stream_options): `reject` answers 400 naming them (OpenAI's own behaviour, the
   * reject_unknown_fields setting); a function is told their paths (the api logs a warning, as
   * vLLM does); absent: they are ignored.
   */
  unknownFields?: 'reject' | ((paths: string[]) => void);
}

/**
 * Validates a parsed JSON body against a DTO class: a 400 in OpenAI's shape naming the first
 * invalid parameter (`param`) and, in the message, every invalid one.
 */
export function validateBody<T extends object>(cls: new () => T, body: unknown, options: ValidateBodyOptions = {}): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw OpenAIError.badRequest('the request body must be a JSON object');
  }
  if (nestingExceeds(body, MAX_BODY_NESTING)) {
    throw OpenAIError.badRequest(`the request body is nested more than ${MAX_BODY_NESTING} levels deep`);
  }
  const dto = plainToInstance(cls, body, { enableImplicitConversion: false });
  const unknown = options.unknownFields ? unknownFieldPaths(dto, body as Record<string, unknown>) : [];
  if (unknown.length > 0) {
    if (options.unknownFields === 'reject') {
      throw OpenAIError.badRequest(`Unrecognized request argument${unknown.length > 1 ? 's' : ''} supplied: ${unknown.join(', ')}`, unknown[0]!);
    }
    (options.unknownFields as (paths: string[]) => void)(unknown);
  }
  const errors = validateSync(dto, { whitelist: false, forbidUnknownValues: false });
  if (errors.length > 0) {
    const flat = flatten(errors);
    throw OpenAIError.badRequest(flat.map((e) => e.message).join('; '), flat[0]!.param);
  }
  return dto;
}

/** Whether `value` nests arrays/objects deeper than `max` levels; iterative, so any depth is safe to ask about. */
export function nestingExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** The properties a DTO class declares (every declared one carries a class-validator decorator). */
type DtoClass = abstract new (...args: never[]) => object;
const declaredProperties = new Map<DtoClass, ReadonlySet<string>>();
function declaredPropertiesOf(cls: DtoClass): ReadonlySet<string> {
  let names = declaredProperties.get(cls);
  if (!names) {
    names = new Set(getMetadataStorage().getTargetValidationMetadatas(cls, '', true, false).map((m) => m.propertyName));
    declaredProperties.set(cls, names);
  }
  return names;
}

/** Paths (`a`, `stream_options.b`) of the body's fields that `dto`'s class, or a nested DTO's, does not declare. */
function unknownFieldPaths(dto: object, body: Record<string, unknown>, prefix = ''): string[] {
  const declared = declaredPropertiesOf(dto.constructor as DtoClass);
  const paths: string[] = [];
  for (const key of Object.keys(body)) {
    const path = prefix + key;
    if (!declared.has(key)) {
      paths.push(path);
      continue;
    }
    // Nested DTOs (class-transformer made them class instances) are checked the same way.
    const nested = (dto as Record<string, unknown>)[key];
    const plain = body[key];
    if (isDtoInstance(nested) && isPlainObject(plain)) paths.push(...unknownFieldPaths(nested, plain, `${path}.`));
  }
  return paths;
}

const isDtoInstance = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v) && v.constructor !== Object;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The violations as OpenAI names them: `param` the dotted path, the messages naming it too. */
function flatten(errors: ValidationError[]): { param: string; message: string }[] {
  return flattenValidationErrors(errors).map((v) => ({ param: v.path, message: v.messages.map((m) => m.replace(v.property, v.path)).join(', ') }));
}
