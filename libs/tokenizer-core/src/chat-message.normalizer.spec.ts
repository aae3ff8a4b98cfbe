import { normalizeChatMessages } from './chat-message.normalizer.js';
import { InvalidContentError, InvalidMessageRoleError, TokenizerError } from './tokenizer.errors.js';

describe('normalizeChatMessages', () => {
  it('joins text parts with newlines, turns null assistant content into "" and parses tool-call arguments', () => {
    const messages = normalizeChatMessages([
      { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }], name: 'ann' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }] },
      { role: 'tool', content: 'ok', tool_call_id: 'c1' },
    ]);
    expect(messages).toEqual([
      { role: 'user', content: 'a\nb', name: 'ann' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: { x: 1 } } }] },
      { role: 'tool', content: 'ok', tool_call_id: 'c1' },
    ]);
  });

  it('rejects unknown roles with invalid_message_role', () => {
    const error = catchError(() => normalizeChatMessages([{ role: 'user', content: 'x' }, { role: 'wizard', content: 'y' }]));
    expect(error).toBeInstanceOf(InvalidMessageRoleError);
    expect(error).toMatchObject({ code: 'invalid_message_role', messageIndex: 1, role: 'wizard', isClientError: true });
  });

  it.each([
    ['an image part', [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }], /only "text" parts/],
    ['a number', [{ role: 'user', content: 42 }], /string or an array/],
    ['missing user content', [{ role: 'user' }], /required for a user message/],
    ['a part without text', [{ role: 'user', content: [{ type: 'text' }] }], /\.text must be a string/],
    ['bad tool-call JSON', [{ role: 'assistant', tool_calls: [{ function: { name: 'f', arguments: '{' } }] }], /not valid JSON/],
    ['tool calls on a user message', [{ role: 'user', content: 'x', tool_calls: [] }], /only an assistant/],
  ])('rejects %s with invalid_content', (_label, messages, pattern) => {
    const error = catchError(() => normalizeChatMessages(messages));
    expect(error).toBeInstanceOf(InvalidContentError);
    expect(error).toMatchObject({ code: 'invalid_content' });
    expect((error as Error).message).toMatch(pattern);
  });

  it('rejects an empty conversation', () => {
    expect(catchError(() => normalizeChatMessages([]))).toMatchObject({ code: 'invalid_content' });
    expect(catchError(() => normalizeChatMessages('hi'))).toBeInstanceOf(TokenizerError);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
