import { Inject, Injectable } from '@nestjs/common';
import type { DeepInferConfig } from '@deepinfer/config';
import { BearerKeyGuard, CONFIG } from '@deepinfer/service-kit';

/** When `api_key` is set, OpenAI routes need `Authorization: Bearer <api_key>` (BearerKeyGuard). */
@Injectable()
export class ApiKeyGuard extends BearerKeyGuard {
  constructor(@Inject(CONFIG) config: DeepInferConfig) {
    super(config.apiKey, { message: 'invalid or missing API key (Authorization: Bearer <api_key>)', code: 'invalid_api_key' });
  }
}
