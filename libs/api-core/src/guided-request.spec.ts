import { guidedDecodingOf, verifyGuidedGrammar } from './guided-request.js';
import { planChat, planCompletion } from './generation-plan.js';
import type { ChatCompletionRequestDto } from './dto/chat-completion-request.dto.js';
import type { CompletionRequestDto } from './dto/completion-request.dto.js';
import { expectBadRequest } from './test-support/expect-bad-request.js';

const refused = expectBadRequest;

describe('guided decoding fields', () => {
  it('reads every accepted form', () => {
    expect(guidedDecodingOf({})).toBeUndefined();
    expect(guidedDecodingOf({ response_format: { type: 'text' } })).toBeUndefined();
    expect(guidedDecodingOf({ response_format: { type: 'json_object' } })).toEqual({ kind: 'json_object' });
    expect(guidedDecodingOf({ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'integer' }, strict: true } } })).toEqual({ kind: 'json_schema', schema: '{"type":"integer"}', strict: true });
    expect(guidedDecodingOf({ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'integer' }, strict: false } } })).toEqual({ kind: 'json_schema', schema: '{"type":"integer"}', strict: false });
    expect(guidedDecodingOf({ guided_json: '{"type":"boolean"}' })).toEqual({ kind: 'json_schema', schema: '{"type":"boolean"}', strict: true });
    expect(guidedDecodingOf({ guided_regex: '[0-9]+' })).toEqual({ kind: 'regex', pattern: '[0-9]+' });
    expect(guidedDecodingOf({ guided_choice: ['a', 'b'] })).toEqual({ kind: 'choice', choices: ['a', 'b'] });
    expect(guidedDecodingOf({ structured_outputs: { choice: ['a'] } })).toEqual({ kind: 'choice', choices: ['a'] });
    expect(guidedDecodingOf({ structured_outputs: { json_object: true } })).toEqual({ kind: 'json_object' });
    expect(guidedDecodingOf({ guided_regex: 'a', guided_decoding_backend: 'xgrammar' })).toEqual({ kind: 'regex', pattern: 'a' });
  });

  it.each([
    [{ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'object', properties: { a: { type: 'integer', multipleOf: 2 } } } } } }, 'response_format.json_schema.schema', 'multipleOf'],
    [{ response_format: { type: 'json_schema', json_schema: { schema: {} } } }, 'response_format.json_schema.name', 'name'],
    [{ response_format: { type: 'yaml' } }, 'response_format.type', 'response_format.type'],
    [{ guided_regex: '(a' }, 'guided_regex', 'invalid regular expression'],
    [{ guided_choice: [] }, 'guided_choice', 'non-empty array'],
    [{ guided_json: '{x' }, 'guided_json', 'not valid JSON'],
    [{ guided_grammar: 'root ::= "a"' }, 'guided_grammar', 'not supported'],
    [{ guided_regex: 'a', guided_choice: ['a'] }, 'guided_choice', 'only one guided-decoding field'],
    [{ structured_outputs: { grammar: 'x' } }, 'structured_outputs.grammar', 'not supported'],
    [{ guided_regex: 'a', guided_decoding_backend: 'outlines' }, 'guided_decoding_backend', 'xgrammar'],
  ])('refuses %j', (body, param, needle) => {
    const err = refused(() => guidedDecodingOf(body));
    expect(err.param).toBe(param);
    expect(err.message).toContain(needle);
  });

  it('plans carry the spec; min_tokens and ignore_eos conflict with it', () => {
    const plan = planChat({ messages: [{ role: 'user', content: 'x' }], guided_choice: ['a', 'b'] } as ChatCompletionRequestDto);
    expect(plan.sampling.guided).toEqual({ kind: 'choice', choices: ['a', 'b'] });
    expect(refused(() => planCompletion({ prompt: 'x', guided_regex: 'a', min_tokens: 2 } as CompletionRequestDto)).param).toBe('min_tokens');
    expect(refused(() => planCompletion({ prompt: 'x', guided_regex: 'a', ignore_eos: true } as CompletionRequestDto)).param).toBe('ignore_eos');
  });

  it("verifyGuidedGrammar turns xgrammar's refusal into a 400", async () => {
    await verifyGuidedGrammar({ kind: 'regex', pattern: '[a-z]+' }, 'guided_regex');
    await expect(verifyGuidedGrammar({ kind: 'regex', pattern: 'a{3,2}' }, 'guided_regex')).rejects.toMatchObject({ status: 400, param: 'guided_regex' });
  });
});
