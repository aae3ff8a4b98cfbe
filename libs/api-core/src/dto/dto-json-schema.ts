import 'reflect-metadata';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { CUSTOM_VALIDATOR_SCHEMAS } from './custom-validators.js';

/** A JSON Schema (OpenAPI 3.0's subset) object. */
export type JsonSchema = Record<string, unknown>;

interface ValidationMeta {
  readonly type: string;
  readonly name?: string;
  readonly propertyName: string;
  readonly constraints?: unknown[];
  readonly each?: boolean;
}

/**
 * The JSON Schema of a request DTO, read from the same class-validator decorators that validate
 * it (one source of truth: the OpenAPI document at /openapi.json cannot drift from what the api
 * accepts). Each decorator maps to its JSON Schema keyword: isString/isInt/isNumber/isBoolean/
 * isArray/isObject to `type`, min/max to minimum/maximum, arrayNotEmpty to minItems, `each`
 * constraints to `items`, nested DTOs (ValidateNested + the property's design type) to their
 * own schema inline; a property without isOptional is required. The api's own validators
 * (isPrompt, isStop, isLogitBias) bring their schemas in CUSTOM_VALIDATOR_SCHEMAS.
 */
export function dtoJsonSchema(dto: new () => object): JsonSchema {
  const metas = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false) as unknown as ValidationMeta[];
  const byProperty = new Map<string, ValidationMeta[]>();
  for (const meta of metas) {
    const list = byProperty.get(meta.propertyName) ?? [];
    list.push(meta);
    byProperty.set(meta.propertyName, list);
  }
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [name, list] of byProperty) {
    const property: JsonSchema = {};
    const items: JsonSchema = {};
    let optional = false;
    for (const meta of list) {
      if (meta.type === ValidationTypes.CONDITIONAL_VALIDATION && meta.name === 'isOptional') {
        optional = true;
        continue;
      }
      if (meta.type === ValidationTypes.NESTED_VALIDATION) {
        const nested = Reflect.getMetadata('design:type', dto.prototype, name) as (new () => object) | undefined;
        if (nested && nested !== Object && nested !== Array) Object.assign(property, dtoJsonSchema(nested));
        continue;
      }
      if (meta.type !== ValidationTypes.CUSTOM_VALIDATION || !meta.name) continue;
      Object.assign(meta.each ? items : property, keywordsOf(meta.name, meta.constraints ?? []));
    }
    if (Object.keys(items).length > 0) property['items'] = { ...(property['items'] as JsonSchema | undefined), ...items };
    properties[name] = property;
    if (!optional) required.push(name);
  }
  return { type: 'object', properties, ...(required.length > 0 ? { required } : {}) };
}

function keywordsOf(name: string, constraints: unknown[]): JsonSchema {
  const first = constraints[0];
  switch (name) {
    case 'isString':
      return { type: 'string' };
    case 'isInt':
      return { type: 'integer' };
    case 'isNumber':
      return { type: 'number' };
    case 'isBoolean':
      return { type: 'boolean' };
    case 'isArray':
      return { type: 'array' };
    case 'arrayNotEmpty':
      return { minItems: 1 };
    case 'isObject':
      return { type: 'object' };
    case 'isIn':
      return { enum: Array.isArray(first) ? first : [] };
    // Number.MIN_VALUE stands for "greater than zero".
    case 'min':
      return first === Number.MIN_VALUE ? { minimum: 0, exclusiveMinimum: true } : { minimum: first };
    case 'max':
      return { maximum: first };
    default:
      return CUSTOM_VALIDATOR_SCHEMAS[name] ?? {};
  }
}
