import { ModelTokenizer } from './model-tokenizer.js';
import { STORIES_260K_DIR } from './test-support/fixture-paths.js';
import { TemplateError } from './tokenizer.errors.js';

describe('chat templates: selection and errors', () => {
  let tokenizer: ModelTokenizer;

  beforeAll(async () => {
    tokenizer = await ModelTokenizer.fromDirectory(STORIES_260K_DIR);
  });

  function withTemplates(templates: Record<string, string>): ModelTokenizer {
    return new ModelTokenizer({ ...tokenizer.files, chatTemplates: new Map(Object.entries(templates)) });
  }

  it("carries the template's own raise_exception message as template_error", () => {
    const strict = withTemplates({
      default: "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with a user message') }}{% endif %}ok",
    });
    try {
      strict.applyChatTemplate([{ role: 'system', content: 'x' }]);
      throw new Error('expected an error');
    } catch (error) {
      expect(error).toBeInstanceOf(TemplateError);
      expect(error).toMatchObject({ code: 'template_error', templateMessage: 'Conversation must start with a user message' });
    }
    expect(strict.renderChat([{ role: 'user', content: 'x' }])).toBe('ok');
  });

  it('reports a template that fails to render (not parse) as template_error', () => {
    expect(() => tokenizer.renderChat([{ role: 'user', content: 'x' }], { chatTemplate: '{{ messages[0].content.nope() }}' })).toThrow(
      expect.objectContaining({ code: 'template_error' }),
    );
    expect(() => tokenizer.renderChat([{ role: 'user', content: 'x' }], { chatTemplate: '{% if %}' })).toThrow(TemplateError);
  });

  it('picks the default of named templates, or a named one on request', () => {
    const named = withTemplates({ default: 'D:{{ messages[0].content }}', tool_use: 'T:{{ messages[0].content }}' });
    const messages = [{ role: 'user', content: 'hi' }];
    expect(named.renderChat(messages)).toBe('D:hi');
    expect(named.renderChat(messages, { chatTemplateName: 'tool_use' })).toBe('T:hi');
    expect(() => named.renderChat(messages, { chatTemplateName: 'rag' })).toThrow(
      expect.objectContaining({ code: 'chat_template_not_found', availableNames: ['default', 'tool_use'] }),
    );
    const noDefault = withTemplates({ a: 'A', b: 'B' });
    expect(() => noDefault.renderChat(messages)).toThrow(expect.objectContaining({ code: 'chat_template_missing' }));
    expect(() => withTemplates({}).renderChat(messages)).toThrow(expect.objectContaining({ code: 'chat_template_missing' }));
    expect(withTemplates({ only: 'O' }).renderChat(messages)).toBe('O');
  });

  it('gives special tokens, add_generation_prompt and kwargs to the template', () => {
    const source = '{{ bos_token }}|{{ eos_token }}|{{ unk_token }}|{{ add_generation_prompt }}|{{ tools is none }}|{{ flavour }}';
    const messages = [{ role: 'user', content: 'x' }];
    expect(tokenizer.renderChat(messages, { chatTemplate: source, templateKwargs: { flavour: 'mint' } })).toBe('<s>|</s>|<unk>|true|true|mint');
    expect(tokenizer.renderChat(messages, { chatTemplate: source, addGenerationPrompt: false })).toBe('<s>|</s>|<unk>|false|true|');
  });

  it('fails at load when a model template does not parse', () => {
    expect(() => withTemplates({ default: '{% for %}' })).toThrow(expect.objectContaining({ code: 'tokenizer_load_failed' }));
  });
});
