import { HttpException } from '@nestjs/common';
import { toOpenAIError } from '@deepinfer/api-core';
import { ProtocolError } from '@deepinfer/contracts';

/**
 * A ProtocolError as an HTTP error with OpenAI's body, `{error: {message, type, param, code}}`,
 * through the api's one map from protocol codes to statuses and types (toOpenAIError), so the
 * admin routes fail exactly like the public API does (a 429 is a `rate_limit_error` on both).
 * Other errors are returned unchanged (Nest answers them with a 500 and logs them).
 */
export function toHttpError(error: unknown): unknown {
  if (!(error instanceof ProtocolError)) return error;
  const openAI = toOpenAIError(error);
  return new HttpException(openAI.toBody(), openAI.status);
}
