import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { ErrorCodes, ProtocolError } from './protocol.js';
import type { MessageSchema } from './hot-path.validation.js';

export type MessageClass<T extends object> = new () => T;

/** What a receiving boundary validates against: a class-validator class, or a hot-path schema. */
export type MessageType<T extends object> = MessageClass<T> | MessageSchema<T>;

function isSchema<T extends object>(type: MessageType<T>): type is MessageSchema<T> {
  return typeof (type as MessageSchema<T>).validate === 'function';
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and validates one message at a receiving boundary. Throws a ProtocolError with code
 * `bad_request` naming every invalid field; never anything else, whatever the bytes are.
 * Unknown fields are stripped (forward compatibility within a protocol version).
 */
export function decodeMessage<T extends object>(cls: MessageType<T>, data: Uint8Array): T {
  let plain: unknown;
  try {
    const text = data.length === 0 ? '{}' : decoder.decode(data);
    plain = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(ErrorCodes.badRequest, `message is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  return validateMessage(cls, plain);
}

/** Validates an already-parsed value against a message class or schema (see decodeMessage). */
export function validateMessage<T extends object>(cls: MessageType<T>, plain: unknown): T {
  if (isSchema(cls)) return cls.validate(plain);
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    throw new ProtocolError(ErrorCodes.badRequest, `message must be a JSON object, got ${describe(plain)}`);
  }
  const instance = plainToInstance(cls, plain, { enableImplicitConversion: false });
  const errors = validateSync(instance, { whitelist: true, forbidUnknownValues: false });
  if (errors.length > 0) {
    const fields = flattenValidationErrors(errors);
    const text = fields.map((f) => `${f.path} (${describe(f.value)}): ${f.messages.join(', ')}`).join('; ');
    throw new ProtocolError(ErrorCodes.badRequest, `invalid ${cls.name}: ${text}`, fields[0]?.path);
  }
  return instance;
}

/** One field that failed validation: its dotted path, its value and the failed constraints' messages. */
export interface FieldViolation {
  path: string;
  /** The last segment of the path (what class-validator's messages name). */
  property: string;
  value: unknown;
  messages: string[];
}

/**
 * Every failed constraint of a class-validator result, nested ones with their dotted path, in
 * order: the one flattening the messages of the bus and of the HTTP API are both made from.
 */
export function flattenValidationErrors(errors: readonly ValidationError[], prefix = ''): FieldViolation[] {
  const out: FieldViolation[] = [];
  for (const e of errors) {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    if (e.constraints) out.push({ path, property: e.property, value: e.value, messages: Object.values(e.constraints) });
    if (e.children?.length) out.push(...flattenValidationErrors(e.children, path));
  }
  return out;
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  const json = JSON.stringify(value);
  return json === undefined ? typeof value : json.length > 60 ? `${json.slice(0, 57)}...` : json;
}
