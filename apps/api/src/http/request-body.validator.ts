import { Inject, Injectable } from '@nestjs/common';
import { validateBody, type ValidateBodyOptions } from '@deepinfer/api-core';
import type { DeepInferConfig } from '@deepinfer/config';
import type { Logger } from '@deepinfer/observability';
import { CONFIG, LOGGER } from '@deepinfer/service-kit';

/** Distinct ignored field names warned about; past this many, they are only logged at debug. */
const MAX_WARNED_FIELDS = 256;

/**
 * Request bodies against their DTOs under the reject_unknown_fields setting: with it, a field the
 * API does not know is a 400 (OpenAI's behaviour); without it (the default, vLLM's), the request
 * runs and the field is named in a warning, once per field name, so clients written for another
 * server learn what is dropped without flooding the log.
 */
@Injectable()
export class RequestBodyValidator {
  private readonly reject: boolean;
  private readonly warned = new Set<string>();

  constructor(@Inject(CONFIG) config: DeepInferConfig, @Inject(LOGGER) private readonly logger: Logger) {
    this.reject = config.rejectUnknownFields;
  }

  validate<T extends object>(cls: new () => T, body: unknown, route: string): T {
    const options: ValidateBodyOptions = { unknownFields: this.reject ? 'reject' : (paths) => this.ignored(route, paths) };
    return validateBody(cls, body, options);
  }

  private ignored(route: string, paths: string[]): void {
    const fresh = paths.filter((p) => !this.warned.has(p));
    if (fresh.length > 0 && this.warned.size < MAX_WARNED_FIELDS) {
      for (const p of fresh) this.warned.add(p);
      this.logger.warn('request fields ignored (unknown to this API; reject_unknown_fields refuses them)', { route, fields: fresh });
    } else {
      this.logger.debug('request fields ignored', { route, fields: paths });
    }
  }
}
