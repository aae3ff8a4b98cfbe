import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { ChatCompletionRequestDto, CompletionRequestDto, dtoJsonSchema } from '@deepinfer/api-core';
import { readVersion } from '@deepinfer/service-kit';
import { DetokenizeRequestDto, TokenizeRequestDto } from './tokenize.dto.js';

/**
 * Request bodies by schema name. The routes validate `@Body() body: unknown` themselves
 * (validateBody, for OpenAI-shaped 400s), so @nestjs/swagger cannot see their DTOs; the routes
 * point at these names (`@ApiBody({ schema: ref(...) })`) and the schemas are derived from the
 * DTOs' class-validator decorators (dtoJsonSchema), the same ones that validate.
 */
export const REQUEST_SCHEMAS = {
  CompletionRequest: CompletionRequestDto,
  ChatCompletionRequest: ChatCompletionRequestDto,
  TokenizeRequest: TokenizeRequestDto,
  DetokenizeRequest: DetokenizeRequestDto,
} as const;

export function schemaRef(name: keyof typeof REQUEST_SCHEMAS): { $ref: string } {
  return { $ref: `#/components/schemas/${name}` };
}

/** The OpenAPI 3 document of the api's public routes: the controllers' routes plus the request schemas. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('DeepInfer')
    .setDescription('OpenAI-compatible inference API (completions, chat completions, models), vLLM extensions, tokenizer and health routes.')
    .setVersion(readVersion())
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'api_key, when the server sets one' })
    .build();
  const document = SwaggerModule.createDocument(app, config);
  const schemas = (document.components ??= {}).schemas ??= {};
  for (const [name, dto] of Object.entries(REQUEST_SCHEMAS)) schemas[name] = dtoJsonSchema(dto);
  return document;
}

/** GET /openapi.json (the document) and GET /docs (Swagger UI, its assets served from swagger-ui-dist: nothing from the internet). */
export function serveOpenApi(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'openapi.json',
    raw: ['json'],
    customSiteTitle: 'DeepInfer API',
  });
}
