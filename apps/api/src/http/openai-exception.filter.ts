import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { OpenAIError, toOpenAIError } from '@deepinfer/api-core';
import type { Logger } from '@deepinfer/observability';

interface HttpResponse {
  headersSent: boolean;
  status(code: number): HttpResponse;
  setHeader(name: string, value: string): void;
  json(body: unknown): void;
  end(): void;
}

/**
 * Every error leaves the api in OpenAI's shape `{"error": {message, type, param, code}}` with the
 * right status: body-parser failures (malformed JSON 400, body too large 413), unknown routes
 * (404), Nest's own HTTP exceptions, and anything a handler throws.
 */
@Catch()
export class OpenAIExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<HttpResponse>();
    const error = this.toError(exception);
    if (error.status >= 500) this.logger.error('request failed', { status: error.status, message: error.message });
    if (res.headersSent) {
      res.end();
      return;
    }
    if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
    res.status(error.status).json(error.toBody());
  }

  private toError(exception: unknown): OpenAIError {
    const e = exception as { type?: string; status?: number; message?: string };
    if (e?.type === 'entity.parse.failed') return OpenAIError.badRequest(`malformed JSON body: ${e.message}`);
    if (e?.type === 'entity.too.large') return new OpenAIError(413, 'request body too large', 'invalid_request_error', null, 'request_too_large');
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse() as { error?: { message?: string; code?: string } } | string;
      if (typeof body === 'object' && body.error?.message) {
        return new OpenAIError(status, body.error.message, status === 401 ? 'authentication_error' : 'invalid_request_error', null, body.error.code ?? null);
      }
      if (status === 404) return OpenAIError.notFound(`no route ${exception.message.replace(/^Cannot /, '')}`, null, 'route_not_found');
      return new OpenAIError(status, exception.message, status >= 500 ? 'server_error' : 'invalid_request_error');
    }
    return toOpenAIError(exception);
  }
}
