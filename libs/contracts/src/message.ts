import { Kind, Type, type Static, type TOptional, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { TypeCompiler, ValueErrorType, type TypeCheck, type ValueError } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { ErrorCodes, ProtocolError } from './protocol.js';

/**
 * One bus message, defined once: a TypeBox schema from which its TypeScript type
 * (`Static<typeof schema>`), its compiled validator and its JSON Schema (routes' docs) all come,
 * so the type and the check cannot drift. Checks that are not shape (parallel-array lengths)
 * are the definition's `check`, run after the shape.
 */
export interface Message<T, S extends TSchema = TSchema> {
  readonly name: string;
  readonly schema: S;
  /**
   * Checks `plain` (an already-parsed JSON value) and returns it as T, the same object. Throws
   * ProtocolError(bad_request) naming every invalid field's path (param: the first one).
   */
  validate(plain: unknown): T;
}

export interface MessageOptions<T> {
  /**
   * A check beyond the shape, run on a value of the right shape: returns the offending field's
   * path and what is wrong, or undefined.
   */
  check?: (message: T) => { path: string; problem: string } | undefined;
  /**
   * Unknown fields: `strip` deletes them (forward compatibility: a handler never sees a field
   * it does not know; the class-validator classes these replace did this); `keep` leaves them
   * (hot-path messages: no copy and no walk besides the check, as the hand-written validators did).
   */
  unknownFields?: 'strip' | 'keep';
}

/** Defines a message: see Message. The validator is compiled on first use. */
export function defineMessage<S extends TSchema>(name: string, schema: S, options: MessageOptions<Static<S>> = {}): Message<Static<S>, S> {
  let compiled: TypeCheck<S> | undefined;
  const strip = (options.unknownFields ?? 'strip') === 'strip';
  const check = options.check;
  return {
    name,
    schema,
    validate(plain: unknown): Static<S> {
      compiled ??= TypeCompiler.Compile(schema);
      if (!compiled.Check(plain)) throw invalid(name, compiled, plain);
      if (check) {
        const failed = check(plain);
        if (failed) throw new ProtocolError(ErrorCodes.badRequest, `invalid ${name}: ${failed.path} (${describe(valueAt(plain, failed.path))}): ${failed.problem}`, failed.path);
      }
      if (strip) Value.Clean(schema, plain);
      return plain;
    },
  };
}

/** An empty request (health, stats, ping, info): any object, its fields dropped. */
export const EmptyObject = Type.Object({});

// ---- Schema helpers: the shapes every message repeats ----

/**
 * An optional field that may also arrive as null (class-validator's IsOptional and the
 * hand-written validators both accepted null for absent); typed as `T | undefined`.
 */
export function Opt<T extends TSchema>(schema: T): TOptional<T> {
  return Type.Optional(Type.Union([schema, Type.Null()])) as unknown as TOptional<T>;
}

/** A read-only array: what the hot-path messages' producers hold (shared frozen arrays). */
export interface TReadonlyArray<T extends TSchema> extends TSchema {
  [Kind]: 'Array';
  static: readonly Static<T, this['params']>[];
  type: 'array';
  items: T;
}
export function ReadonlyArray<T extends TSchema>(items: T, options?: Parameters<typeof Type.Array>[1]): TReadonlyArray<T> {
  return Type.Array(items, options) as unknown as TReadonlyArray<T>;
}

/** A string with at least one character. */
export const NonEmptyString = (options: Parameters<typeof Type.String>[0] = {}) => Type.String({ minLength: 1, ...options });
/** An integer ≥ min (0 unless given). */
export const Int = (min = 0, options: Parameters<typeof Type.Integer>[0] = {}) => Type.Integer({ minimum: min, ...options });
/** One of the strings of a const tuple, as a union of literals. */
export function OneOf<const V extends readonly string[]>(values: V, options: { description?: string } = {}): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>(Type.Union(values.map((v) => Type.Literal(v)), options));
}

// ---- Errors: TypeBox's iterator turned into one ProtocolError naming the paths ----

const MAX_REPORTED = 8;

function invalid(name: string, compiled: TypeCheck<TSchema>, plain: unknown): ProtocolError {
  const seen = new Set<string>();
  const fields: { path: string; value: unknown; message: string }[] = [];
  for (const error of compiled.Errors(plain)) {
    const e = explain(error);
    const path = pathOf(e.path);
    if (seen.has(path)) continue; // "required property" then "expected string" on one path: keep the first
    seen.add(path);
    fields.push({ path, value: e.value, message: e.message });
    if (fields.length === MAX_REPORTED) break;
  }
  const text = fields.map((f) => `${f.path} (${describe(f.value)}): ${f.message}`).join('; ');
  return new ProtocolError(ErrorCodes.badRequest, `invalid ${name}: ${text || 'does not match its schema'}`, fields[0]?.path);
}

/**
 * The most specific error of a union: a variant that matched its discriminant literal (a
 * guided decoding of kind `regex` missing its pattern) or the non-null variant of an optional
 * field says what is wrong; when every variant failed on a literal, the field must be one of them.
 */
function explain(error: ValueError): { path: string; value: unknown; message: string } {
  if (error.type !== ValueErrorType.Union || error.errors.length === 0) return { path: error.path, value: error.value, message: lower(error.message) };
  const variants = error.errors.map((it) => [...it]);
  const matched = variants.filter((v) => v.length > 0 && !v.some((e) => e.type === ValueErrorType.Literal) && !(v.length === 1 && v[0]!.type === ValueErrorType.Null));
  if (matched.length > 0) return explain(matched.reduce((a, b) => (b.length < a.length ? b : a))[0]!);
  const literals = variants.flatMap((v) => v.filter((e) => e.type === ValueErrorType.Literal));
  if (literals.length > 0) {
    const path = literals[0]!.path;
    const values = literals.filter((e) => e.path === path).map((e) => String((e.schema as unknown as { const: unknown }).const));
    return { path, value: literals[0]!.value, message: `must be one of ${values.join(', ')}` };
  }
  return { path: error.path, value: error.value, message: lower(error.message) };
}

const lower = (message: string): string => message.charAt(0).toLowerCase() + message.slice(1);

/** A JSON pointer (`/newRequests/0/promptTokenIds/1`) as the dotted path the errors name (`newRequests[0].promptTokenIds[1]`). */
export function pathOf(pointer: string): string {
  if (pointer === '') return '$';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(segment) ? `[${segment}]` : out === '' ? segment : `.${segment}`;
  }
  return out;
}

function valueAt(root: unknown, path: string): unknown {
  let v: unknown = root;
  for (const key of path.match(/[^.[\]]+/g) ?? []) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
  return v;
}

export function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  const json = JSON.stringify(value);
  return json === undefined ? typeof value : json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

