import { HttpException } from '@nestjs/common';
import { ErrorCodes, ProtocolError, type ErrorCode } from '@deepinfer/contracts';

const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.badRequest]: 400,
  [ErrorCodes.contextLengthExceeded]: 400,
  [ErrorCodes.notFound]: 404,
  [ErrorCodes.overloaded]: 429,
  [ErrorCodes.unavailable]: 503,
};

/**
 * A ProtocolError as an HTTP error with OpenAI's body, `{error: {message, type, param, code}}`,
 * so the admin routes fail like the public API does. Other errors are returned unchanged (Nest
 * answers them with a 500 and logs them).
 */
export function toHttpError(error: unknown): unknown {
  if (!(error instanceof ProtocolError)) return error;
  const status = STATUS[error.code] ?? 500;
  const type = status === 400 || status === 404 ? 'invalid_request_error' : 'server_error';
  return new HttpException({ error: { message: error.message, type, param: error.param ?? null, code: error.code } }, status);
}
