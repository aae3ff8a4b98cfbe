import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { describe as describeValue, type Message } from './message.js';
import { ErrorCodes, ProtocolError } from './protocol.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and validates one bus message at a receiving boundary. Throws a ProtocolError with
 * code `bad_request` naming every invalid field; never anything else, whatever the bytes are.
 * Unknown fields are stripped or kept as the message's definition says (MessageOptions).
 */
export function decodeMessage<T>(message: Message<T>, data: Uint8Array): T {
  let plain: unknown;
  try {
    const text = data.length === 0 ? '{}' : decoder.decode(data);
    plain = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(ErrorCodes.badRequest, `message is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  return message.validate(plain);
}

export type BodyClass<T extends object> = new () => T;

/**
 * Validates a parsed HTTP body against a class-validator class (the admin routes' bodies; the
 * bus's messages are Message definitions): a typed instance, unknown fields stripped, or a
 * ProtocolError(bad_request) naming every invalid field.
 */
export function validateBody<T extends object>(cls: BodyClass<T>, plain: unknown): T {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    throw new ProtocolError(ErrorCodes.badRequest, `body must be a JSON object, got ${describeValue(plain)}`);
  }
  const instance = plainToInstance(cls, plain, { enableImplicitConversion: false });
  const errors = validateSync(instance, { whitelist: true, forbidUnknownValues: false });
  if (errors.length > 0) {
    const fields = flattenValidationErrors(errors);
    const text = fields.map((f) => `${f.path} (${describeValue(f.value)}): ${f.messages.join(', ')}`).join('; ');
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
 * order: the one flattening the messages of the HTTP API and of the admin bodies are made from.
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
