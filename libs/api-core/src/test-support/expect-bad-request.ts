import { OpenAIError } from '../openai-error.js';

/** Runs `fn`, expects it to throw a 400 OpenAIError, and returns that error (for its message and param). */
export function expectBadRequest(fn: () => unknown): OpenAIError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OpenAIError);
    expect((err as OpenAIError).status).toBe(400);
    return err as OpenAIError;
  }
  throw new Error('expected a 400');
}
