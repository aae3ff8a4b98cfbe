import { registerDecorator, type ValidationOptions } from 'class-validator';

function define(name: string, message: string, test: (value: unknown) => boolean) {
  return (options?: ValidationOptions) =>
    (target: object, propertyName: string): void =>
      registerDecorator({ name, target: target.constructor, propertyName, options: { message, ...options }, validator: { validate: test } });
}

const isTokenIdArray = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && (x as number) >= 0);

/** `prompt` of /v1/completions: a string, strings, token ids, or lists of token ids. */
export const IsPrompt = define(
  'isPrompt',
  '$property must be a string, an array of strings, an array of token ids, or an array of arrays of token ids',
  (v) =>
    typeof v === 'string' ||
    (Array.isArray(v) && v.length > 0 && (v.every((x) => typeof x === 'string') || isTokenIdArray(v) || v.every(isTokenIdArray))),
);

/** `stop`: a string or an array of non-empty strings. */
export const IsStop = define('isStop', '$property must be a string or an array of strings', (v) =>
  typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string' && s.length > 0)),
);

/** `logit_bias`: token id (as a string) → bias in [-100, 100]. */
export const IsLogitBias = define('isLogitBias', '$property must map token ids to numbers in [-100, 100]', (v) =>
  typeof v === 'object' && v !== null && !Array.isArray(v) &&
  Object.entries(v).every(([k, b]) => /^\d+$/.test(k) && typeof b === 'number' && b >= -100 && b <= 100),
);

const tokenIds = { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } };

/** The JSON Schemas of the validators above, for the OpenAPI document (dtoJsonSchema). */
export const CUSTOM_VALIDATOR_SCHEMAS: Record<string, Record<string, unknown>> = {
  isPrompt: {
    oneOf: [{ type: 'string' }, { type: 'array', minItems: 1, items: { type: 'string' } }, tokenIds, { type: 'array', minItems: 1, items: tokenIds }],
  },
  isStop: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string', minLength: 1 } }] },
  isLogitBias: { type: 'object', additionalProperties: { type: 'number', minimum: -100, maximum: 100 }, description: 'token id (as a string) → bias' },
};
