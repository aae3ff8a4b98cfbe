import { ErrorCodes, ProtocolError, type ErrorCode } from '@deepinfer/contracts';

export type OpenAIErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'rate_limit_error' | 'server_error' | 'service_unavailable_error';

/** The body OpenAI (and vLLM) return on every error. */
export interface OpenAIErrorBody {
  error: { message: string; type: OpenAIErrorType; param: string | null; code: string | number | null };
}

/**
 * An error with its HTTP status and OpenAI shape. Everything that fails a request ends up as one
 * of these, so clients always get `{"error": {...}}` with the right status.
 */
export class OpenAIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: OpenAIErrorType,
    readonly param: string | null = null,
    readonly code: string | number | null = null,
    /** Seconds, for 429/503. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'OpenAIError';
  }

  static badRequest(message: string, param: string | null = null, code: string | null = null): OpenAIError {
    return new OpenAIError(400, message, 'invalid_request_error', param, code);
  }

  static notFound(message: string, param: string | null = null, code: string | null = null): OpenAIError {
    return new OpenAIError(404, message, 'not_found_error', param, code);
  }

  static unavailable(message: string, retryAfterSeconds = 1): OpenAIError {
    return new OpenAIError(503, message, 'service_unavailable_error', null, 'service_unavailable', retryAfterSeconds);
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

const STATUS_BY_CODE: Record<ErrorCode, [number, OpenAIErrorType]> = {
  [ErrorCodes.badRequest]: [400, 'invalid_request_error'],
  [ErrorCodes.contextLengthExceeded]: [400, 'invalid_request_error'],
  [ErrorCodes.notFound]: [404, 'not_found_error'],
  [ErrorCodes.overloaded]: [429, 'rate_limit_error'],
  [ErrorCodes.unavailable]: [503, 'service_unavailable_error'],
  [ErrorCodes.protocolMismatch]: [500, 'server_error'],
  [ErrorCodes.internal]: [500, 'server_error'],
};

/** Maps a service's error reply (or any throw) to the HTTP error the client sees. */
export function toOpenAIError(err: unknown): OpenAIError {
  if (err instanceof OpenAIError) return err;
  if (err instanceof ProtocolError) {
    const [status, type] = STATUS_BY_CODE[err.code] ?? [500, 'server_error'];
    const retry = status === 429 || status === 503 ? 1 : undefined;
    return new OpenAIError(status, err.message, type, err.param ?? null, err.code, retry);
  }
  return new OpenAIError(500, `internal error: ${err instanceof Error ? err.message : String(err)}`, 'server_error', null, 'internal');
}

/**
 * The HTTP error for a failed generation (a choice that ended with finish reason `error`): the
 * status of its protocol code when it has one (`bad_request`: the executor refused the request's
 * grammar, 400; `unavailable`: a service or replica was lost, 503), else a 500
 * `generation_failed` (the request failed in the engine). The message is the failure's own.
 */
export function generationFailure(message: string, code: ErrorCode | undefined): OpenAIError {
  return code ? toOpenAIError(new ProtocolError(code, message)) : new OpenAIError(500, message, 'server_error', null, 'generation_failed');
}
