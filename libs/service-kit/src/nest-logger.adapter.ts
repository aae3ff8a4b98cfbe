import type { LoggerService } from '@nestjs/common';
import type { Logger } from '@deepinfer/observability';

/**
 * Routes Nest's own log calls into our structured logger. Nest's `log` level (route mapping,
 * module init) becomes `debug`, so a service is quiet at `info` by default.
 */
export class NestLoggerAdapter implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.debug(String(message), context ? { context } : undefined);
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error(String(message), { context, trace });
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn(String(message), context ? { context } : undefined);
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug(String(message), context ? { context } : undefined);
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace(String(message), context ? { context } : undefined);
  }
}
