import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { OpenAIError } from '../openai-error.js';

/**
 * Validates a parsed JSON body against a DTO class: a 400 in OpenAI's shape naming the first
 * invalid parameter (`param`) and, in the message, every invalid one.
 */
export function validateBody<T extends object>(cls: new () => T, body: unknown): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw OpenAIError.badRequest('the request body must be a JSON object');
  }
  const dto = plainToInstance(cls, body, { enableImplicitConversion: false });
  const errors = validateSync(dto, { whitelist: false, forbidUnknownValues: false });
  if (errors.length > 0) {
    const flat = flatten(errors);
    throw OpenAIError.badRequest(flat.map((e) => e.message).join('; '), flat[0]!.param);
  }
  return dto;
}

function flatten(errors: ValidationError[], prefix = ''): { param: string; message: string }[] {
  return errors.flatMap((e) => {
    const param = prefix ? `${prefix}.${e.property}` : e.property;
    const own = e.constraints ? [{ param, message: Object.values(e.constraints).map((m) => m.replace(e.property, param)).join(', ') }] : [];
    return [...own, ...flatten(e.children ?? [], param)];
  });
}
