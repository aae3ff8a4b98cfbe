import { validatePromptLength } from './prompt-length.validator.js';
import { ContextLengthExceededError } from './tokenizer.errors.js';

describe('validatePromptLength', () => {
  it('returns the completion budget', () => {
    expect(validatePromptLength(100, 512)).toEqual({ maxTokens: 412 });
    expect(validatePromptLength(100, 512, 412)).toEqual({ maxTokens: 412 });
    expect(validatePromptLength(511, 512)).toEqual({ maxTokens: 1 });
  });

  it('rejects prompts that leave no room, with the counts and the limit', () => {
    expect(() => validatePromptLength(512, 512)).toThrow(ContextLengthExceededError);
    try {
      validatePromptLength(400, 512, 200);
      throw new Error('expected an error');
    } catch (error) {
      expect(error).toMatchObject({ code: 'context_length_exceeded', numPromptTokens: 400, maxModelLen: 512, maxTokens: 200 });
      expect((error as Error).message).toBe(
        "This model's maximum context length is 512 tokens. However, you requested 600 tokens " +
          '(400 in the prompt, 200 for the completion). Please reduce the length of the prompt or of max_tokens.',
      );
    }
  });

  it('rejects an empty prompt and a non-positive max_tokens', () => {
    expect(() => validatePromptLength(0, 512)).toThrow(expect.objectContaining({ code: 'empty_prompt' }));
    expect(() => validatePromptLength(10, 512, 0)).toThrow(RangeError);
  });
});
