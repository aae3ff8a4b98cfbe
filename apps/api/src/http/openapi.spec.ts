import { Controller, Get, Post, UseGuards } from '@nestjs/common';
import { ApiKeyGuard } from './api-key.guard.js';
import { OpenAIController } from './openai.controller.js';
import { ApiDoc, ApiTag, buildOpenApiDocument, routeDocs } from './openapi.js';
import { UtilityController } from './utility.controller.js';

@ApiTag('test')
@Controller('t')
@UseGuards(ApiKeyGuard)
class DocumentedController {
  @Post('a')
  @ApiDoc({ summary: 'a', body: 'ChatCompletionRequest' })
  a() {}

  @Get()
  @ApiDoc({ summary: 'root' })
  root() {}

  helper() {}
}

@Controller()
class UndocumentedController {
  @Get('nope')
  nope() {}
}

describe('the OpenAPI document', () => {
  it('reads paths and methods from the route metadata, auth from the guards, the rest from @ApiDoc', () => {
    expect(routeDocs([DocumentedController])).toEqual([
      { method: 'POST', path: '/t/a', tag: 'test', summary: 'a', body: 'ChatCompletionRequest', auth: true },
      { method: 'GET', path: '/t', tag: 'test', summary: 'root', auth: true },
    ]);
  });

  it('refuses a route without documentation', () => {
    expect(() => routeDocs([UndocumentedController])).toThrow('GET /nope (UndocumentedController.nope) has no @ApiDoc');
  });

  it('documents every public route of the api, with api_key where the guard is', () => {
    const doc = buildOpenApiDocument([OpenAIController, UtilityController]) as { paths: Record<string, Record<string, { security?: unknown; tags: string[] }>> };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => `${method} ${path}${op.security ? ' (api_key)' : ''}`));
    expect(routes.sort()).toEqual([
      'get /health',
      'get /metrics',
      'get /v1/gpu/info',
      'get /v1/models (api_key)',
      'get /version',
      'post /detokenize (api_key)',
      'post /tokenize (api_key)',
      'post /v1/chat/completions (api_key)',
      'post /v1/completions (api_key)',
    ]);
    expect(Object.keys(doc.paths)[0]).toMatch(/^\/v1\//); // the OpenAI routes first
  });
});
