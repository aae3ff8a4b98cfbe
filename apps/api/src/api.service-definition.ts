import type { NestExpressApplication } from '@nestjs/platform-express';
import { createLogger } from '@deepinfer/observability';
import type { ServiceDefinition } from '@deepinfer/service-kit';
import { ApiModule } from './api.module.js';
import { OpenAIExceptionFilter } from './http/openai-exception.filter.js';

/** Larger bodies get a 413 (a long prompt is a few MB at most). */
const MAX_BODY = '8mb';

/** How the api service starts; main.ts and the tests use this one definition. */
export const API_SERVICE: ServiceDefinition = {
  service: 'api',
  module: ApiModule,
  adminPort: (config) => config.apiAdminPort,
  extraPorts: (config) => [config.port],
  bodyParser: false,
  configureApp: (app, config) => {
    const express = app as NestExpressApplication;
    express.useBodyParser('json', { limit: MAX_BODY });
    express.disable('x-powered-by');
    app.useGlobalFilters(new OpenAIExceptionFilter(createLogger({ name: 'api', level: config.logLevel, format: config.logFormat })));
  },
};
