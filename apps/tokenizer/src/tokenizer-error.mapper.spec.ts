import { ErrorCodes, ProtocolError } from '@deepinfer/contracts';
import { ChatTemplateNotFoundError, ContextLengthExceededError, EmptyPromptError, TemplateError, TokenizerLoadError } from '@deepinfer/tokenizer-core';
import { toProtocolError } from './tokenizer-error.mapper.js';

describe('toProtocolError', () => {
  it('keeps the library’s message and names the field', () => {
    expect(toProtocolError(new ContextLengthExceededError(600, 512), 'messages').toBody()).toEqual({
      code: ErrorCodes.contextLengthExceeded,
      message: expect.stringContaining('your prompt has 600 tokens'),
      param: 'messages',
    });
    expect(toProtocolError(new TemplateError('unknown filter x'), 'messages').toBody()).toEqual({ code: ErrorCodes.badRequest, message: 'chat template error: unknown filter x', param: 'messages' });
    expect(toProtocolError(new ChatTemplateNotFoundError('no template', []), 'messages').param).toBe('chat_template');
    expect(toProtocolError(new EmptyPromptError(), 'prompt').toBody()).toMatchObject({ code: ErrorCodes.badRequest, param: 'prompt' });
  });

  it('passes ProtocolErrors through and rethrows operator errors and bugs (they become `internal`)', () => {
    const protocol = new ProtocolError(ErrorCodes.badRequest, 'x');
    expect(toProtocolError(protocol, 'prompt')).toBe(protocol);
    expect(() => toProtocolError(new TokenizerLoadError('broken'), 'prompt')).toThrow(TokenizerLoadError);
    expect(() => toProtocolError(new TypeError('bug'), 'prompt')).toThrow(TypeError);
  });
});
