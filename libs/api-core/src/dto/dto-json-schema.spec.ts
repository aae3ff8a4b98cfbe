import { ChatCompletionRequestDto } from './chat-completion-request.dto.js';
import { CompletionRequestDto } from './completion-request.dto.js';
import { dtoJsonSchema } from './dto-json-schema.js';

describe('dtoJsonSchema', () => {
  it('derives the chat request schema from its validators: types, ranges, required fields, nested DTOs', () => {
    const schema = dtoJsonSchema(ChatCompletionRequestDto) as { properties: Record<string, Record<string, unknown>>; required: string[] };
    expect(schema.required).toEqual(['messages']);
    expect(schema.properties['messages']).toEqual({ type: 'array', minItems: 1 });
    expect(schema.properties['temperature']).toEqual({ type: 'number', minimum: 0, maximum: 2 });
    expect(schema.properties['top_p']).toEqual({ type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 1 });
    expect(schema.properties['n']).toEqual({ type: 'integer', minimum: 1, maximum: 128 });
    expect(schema.properties['stop_token_ids']).toEqual({ type: 'array', items: { type: 'integer', minimum: 0 } });
    expect(schema.properties['stream_options']).toEqual({ type: 'object', properties: { include_usage: { type: 'boolean' } } });
    expect(schema.properties['stop']).toMatchObject({ oneOf: expect.any(Array) });
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['model', 'max_tokens', 'max_completion_tokens', 'seed', 'logit_bias', 'top_logprobs', 'chat_template_kwargs']));
  });

  it('makes prompt the one required field of a completion request', () => {
    const schema = dtoJsonSchema(CompletionRequestDto) as { properties: Record<string, Record<string, unknown>>; required: string[] };
    expect(schema.required).toEqual(['prompt']);
    expect((schema.properties['prompt']!['oneOf'] as unknown[]).length).toBe(4);
    expect(schema.properties['logprobs']).toEqual({ type: 'integer', minimum: 0, maximum: 20 });
  });
});
