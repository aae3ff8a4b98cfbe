import { validateBody } from '../dto/validate-body.js';
import { ChatCompletionRequestDto } from '../dto/chat-completion-request.dto.js';
import { applyToolFormat, planChat } from '../generation-plan.js';

const TOOLS = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] } } }];
const plan = (body: Record<string, unknown>) => planChat(validateBody(ChatCompletionRequestDto, { messages: [{ role: 'user', content: 'hi' }], ...body }));

describe('planChat and applyToolFormat with tools', () => {
  it('auto: the template gets the tools; the output is parsed, not constrained', () => {
    const p = plan({ tools: TOOLS });
    expect(p.prompts[0]).toMatchObject({ kind: 'chat', tools: TOOLS });
    applyToolFormat(p, 'hermes');
    expect(p.toolCallFormat).toBe('hermes');
    expect(p.sampling.guided).toBeUndefined();
  });

  it('none: the template gets no tools and nothing is parsed', () => {
    const p = plan({ tools: TOOLS, tool_choice: 'none' });
    expect(p.prompts[0]).toMatchObject({ kind: 'chat', tools: undefined });
    applyToolFormat(p, 'hermes');
    expect(p.toolCallFormat).toBeUndefined();
  });

  it('required / named: guided decoding by a structural tag in the format, reported as param tools', () => {
    const p = plan({ tools: TOOLS, tool_choice: { type: 'function', function: { name: 'f' } } });
    applyToolFormat(p, 'llama3_json');
    expect(p.sampling.guided).toMatchObject({ kind: 'structural_tag' });
    expect(JSON.parse((p.sampling.guided as { tag: string }).tag)).toMatchObject({ format: { type: 'tag', begin: '{"name": "f", "parameters": ', end: '}' } });
    expect(p.guidedParam).toBe('tools');
    expect(p.toolCallFormat).toBe('llama3_json');
  });

  it('400s: no known format, another guided field with an enforced choice, min_tokens with an enforced choice', () => {
    expect(() => applyToolFormat(plan({ tools: TOOLS }), undefined)).toThrow(expect.objectContaining({ status: 400, param: 'tools', message: expect.stringMatching(/tool_call_parser/) }));
    expect(() => plan({ tools: TOOLS, tool_choice: 'required', guided_regex: 'a+' })).toThrow(expect.objectContaining({ status: 400, param: 'tool_choice' }));
    expect(() => applyToolFormat(plan({ tools: TOOLS, tool_choice: 'required', min_tokens: 2 }), 'hermes')).toThrow(expect.objectContaining({ status: 400, param: 'min_tokens' }));
    // auto with a guided field: the guided field shapes the output, which is not parsed.
    const p = plan({ tools: TOOLS, response_format: { type: 'json_object' } });
    applyToolFormat(p, undefined);
    expect(p.toolCallFormat).toBeUndefined();
  });
});
