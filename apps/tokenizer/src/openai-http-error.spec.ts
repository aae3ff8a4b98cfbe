import { HttpException } from '@nestjs/common';
import { toOpenAIError } from '@deepinfer/api-core';
import { ErrorCodes, ProtocolError, type ErrorCode } from '@deepinfer/contracts';
import { toHttpError } from './openai-http-error.js';

describe('toHttpError (the tokenizer admin routes)', () => {
  it.each(Object.values(ErrorCodes) as ErrorCode[])('answers %s with the status and OpenAI type the public API uses', (code) => {
    const error = new ProtocolError(code, 'what happened', 'prompt');
    const http = toHttpError(error) as HttpException;
    const api = toOpenAIError(error);
    expect(http).toBeInstanceOf(HttpException);
    expect(http.getStatus()).toBe(api.status);
    expect(http.getResponse()).toEqual({ error: { message: 'what happened', type: api.type, param: 'prompt', code } });
  });

  it('maps overload to 429 rate_limit_error (it was a server_error here before)', () => {
    const http = toHttpError(new ProtocolError(ErrorCodes.overloaded, 'busy')) as HttpException;
    expect(http.getStatus()).toBe(429);
    expect((http.getResponse() as { error: { type: string } }).error.type).toBe('rate_limit_error');
  });

  it('leaves other errors to Nest', () => {
    const plain = new Error('boom');
    expect(toHttpError(plain)).toBe(plain);
  });
});
