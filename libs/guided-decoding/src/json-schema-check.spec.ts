import { GuidedDecodingError, prepareJsonSchema, regexProblem } from './json-schema-check.js';

const P = 'response_format.json_schema.schema';
const refusal = (schema: unknown): string => {
  try {
    prepareJsonSchema(schema, P);
  } catch (err) {
    expect(err).toBeInstanceOf(GuidedDecodingError);
    expect((err as GuidedDecodingError).param).toBe(P);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
};

describe('prepareJsonSchema', () => {
  it('accepts the supported keywords and keeps the schema', () => {
    const schema = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      title: 'person',
      type: 'object',
      properties: {
        name: { type: 'string', pattern: '^[A-Z][a-z]+$', description: 'x' },
        nick: { type: 'string', minLength: 1, maxLength: 8 },
        age: { type: 'integer', minimum: 0, maximum: 150 },
        tags: { type: 'array', items: { enum: ['a', 'b'] }, minItems: 1, maxItems: 3 },
        home: { $ref: '#/$defs/address' },
        email: { type: 'string', format: 'email' },
        kind: { const: 'k' },
        either: { anyOf: [{ type: 'integer' }, { type: 'null' }] },
        pair: { type: 'array', prefixItems: [{ type: 'integer' }, { type: 'string' }], items: false },
      },
      required: ['name', 'age'],
      additionalProperties: false,
      $defs: { address: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
    };
    expect(JSON.parse(prepareJsonSchema(schema, P))).toEqual(schema);
  });

  it('turns number bounds into the integer range inside them', () => {
    expect(JSON.parse(prepareJsonSchema({ type: 'number', minimum: 0.5, maximum: 20.5 }, P))).toEqual({ type: 'integer', minimum: 1, maximum: 20 });
    expect(JSON.parse(prepareJsonSchema({ type: 'integer', exclusiveMinimum: 3, exclusiveMaximum: 6 }, P))).toEqual({ type: 'integer', minimum: 4, maximum: 5 });
    expect(JSON.parse(prepareJsonSchema({ type: 'number', exclusiveMaximum: 0 }, P))).toEqual({ type: 'integer', maximum: -1 });
    expect(refusal({ type: 'number', minimum: 0.2, maximum: 0.8 })).toMatch(/holding no integer/);
    expect(JSON.parse(prepareJsonSchema({ type: 'number' }, P))).toEqual({ type: 'number' });
  });

  it.each([
    [{ type: 'object', properties: { a: { type: 'integer', multipleOf: 3 } } }, '$.properties.a.multipleOf: multipleOf is not supported'],
    [{ oneOf: [{ type: 'integer' }] }, '$.oneOf: oneOf is not supported'],
    [{ allOf: [{ type: 'integer' }] }, '$.allOf: allOf is not supported'],
    [{ not: { type: 'integer' } }, '$.not: not is not supported'],
    [{ type: 'object', patternProperties: { x: {} } }, '$.patternProperties'],
    [{ type: 'object', minProperties: 1 }, '$.minProperties'],
    [{ type: 'array', uniqueItems: true }, '$.uniqueItems: uniqueItems: true is not supported'],
    [{ type: 'string', format: 'hostname' }, '$.format: the format "hostname" is not supported'],
    [{ type: 'string', pattern: 'a+', maxLength: 3 }, '$.pattern: pattern together with minLength'],
    [{ type: 'string', pattern: '(a' }, '$.pattern: invalid regular expression'],
    [{ type: 'string', pattern: '(?=a)a' }, 'lookahead and lookbehind'],
    [{ type: 'foo' }, '$.type: unknown type "foo"'],
    [{ type: 'object', properties: { a: { $ref: 'http://x/y' } } }, '$.properties.a.$ref: only local references'],
    [{ type: 'object', required: ['a'] }, '"a" is required but not in properties'],
    [{ type: 'object', properties: { a: { frobnicate: 1 } } }, '$.properties.a.frobnicate: the keyword "frobnicate" is not supported'],
    [{ type: 'string', minimum: 1 }, 'numeric bounds need'],
    [[1], 'must be an object'],
  ])('refuses %j naming the feature', (schema, needle) => {
    expect(refusal(schema)).toContain(needle);
  });
});

describe('regexProblem', () => {
  it('accepts what xgrammar compiles and names what it cannot', () => {
    expect(regexProblem('\\d{3}-[a-z]+(x|y)?')).toBeUndefined();
    expect(regexProblem('[')).toMatch(/invalid regular expression/);
    expect(regexProblem('(?<=a)b')).toMatch(/lookbehind/);
    expect(regexProblem('(a)\\1')).toMatch(/backreferences/);
    expect(regexProblem('\\p{L}+')).toMatch(/Unicode property/);
    expect(regexProblem('\\bword')).toMatch(/word-boundary/);
  });
});
