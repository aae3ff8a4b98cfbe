import 'reflect-metadata';
import { RequestMethod, SetMetadata, type CanActivate, type Type } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { ChatCompletionRequestDto, CompletionRequestDto, openApiDocument, type RouteDoc } from '@deepinfer/api-core';
import { AdminController, readVersion } from '@deepinfer/service-kit';
import { ApiKeyGuard } from './api-key.guard.js';
import { DetokenizeRequestDto, TokenizeRequestDto } from './tokenize.dto.js';

/**
 * The OpenAPI document of the public API, generated from the code: the routes (paths and
 * methods) are read from the controllers' Nest route metadata, `auth` from their guards
 * (ApiKeyGuard), the summaries from @ApiDoc, and the request schemas from the DTO classes'
 * class-validator decorators (api-core's dtoJsonSchema).
 *
 * Why not @nestjs/swagger: it reads neither class-validator decorators (only @ApiProperty or its
 * compiler plugin, and our routes validate `@Body() body: unknown` themselves for OpenAI-shaped
 * 400s), and it brings ~42 MiB of production dependencies (swagger-ui-dist, es-toolkit), more
 * than the images' payload bound (tools/src/dockerfiles.spec.ts) allows.
 */

/** What a route's documentation says beyond its path and method. */
export interface ApiDocOptions {
  readonly summary: string;
  readonly description?: string;
  /** Request body schema name: a key of REQUEST_SCHEMAS. */
  readonly body?: keyof typeof REQUEST_SCHEMAS;
  readonly streams?: boolean;
  readonly produces?: string;
}

const API_DOC = 'deepinfer:api-doc';
const API_TAG = 'deepinfer:api-tag';

/** Documents a route in /openapi.json. */
export const ApiDoc = (options: ApiDocOptions) => SetMetadata(API_DOC, options);
/** The group a controller's routes are listed under in /docs. */
export const ApiTag = (tag: string) => SetMetadata(API_TAG, tag);

export const REQUEST_SCHEMAS = {
  CompletionRequest: CompletionRequestDto,
  ChatCompletionRequest: ChatCompletionRequestDto,
  TokenizeRequest: TokenizeRequestDto,
  DetokenizeRequest: DetokenizeRequestDto,
} as const;

/** Routes of controllers outside this app (service-kit's admin routes, served on the api's ports too). */
const SHARED_ROUTE_DOCS: Record<string, ApiDocOptions & { tag: string }> = {
  'GET /health': { tag: 'operations', summary: 'Readiness: 200 when every service answers and an executor is registered, else 503 (details per service)' },
  'GET /metrics': { tag: 'operations', summary: 'Prometheus metrics: requests by route and status, TTFT, inter-token latency, e2e latency, tokens, requests in flight', produces: 'text/plain' },
};

/** Every route of `controllers` with its documentation; a route without any is an error (documentation must not lag the code). */
export function routeDocs(controllers: readonly Type<unknown>[]): RouteDoc[] {
  const routes: RouteDoc[] = [];
  for (const controller of controllers) {
    const base = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
    const tag = Reflect.getMetadata(API_TAG, controller) as string | undefined;
    const classGuards = (Reflect.getMetadata(GUARDS_METADATA, controller) ?? []) as Type<CanActivate>[];
    const proto = controller.prototype as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const handler = proto[name];
      if (name === 'constructor' || typeof handler !== 'function') continue;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      const sub = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
      if (method === undefined || sub === undefined) continue;
      const verb = RequestMethod[method];
      const path = '/' + [base, sub].map((p) => p.replace(/^\/+|\/+$/g, '')).filter(Boolean).join('/');
      const doc = (Reflect.getMetadata(API_DOC, handler) as ApiDocOptions | undefined) ?? SHARED_ROUTE_DOCS[`${verb} ${path}`];
      if (!doc) throw new Error(`${verb} ${path} (${controller.name}.${name}) has no @ApiDoc`);
      const guards = [...classGuards, ...((Reflect.getMetadata(GUARDS_METADATA, handler) ?? []) as Type<CanActivate>[])];
      routes.push({ method: verb, path, tag: (doc as { tag?: string }).tag ?? tag ?? 'api', ...doc, auth: guards.includes(ApiKeyGuard) });
    }
  }
  return routes;
}

/** The document /openapi.json serves. */
export function buildOpenApiDocument(controllers: readonly Type<unknown>[]): Record<string, unknown> {
  return openApiDocument(
    {
      title: 'DeepInfer',
      version: readVersion(),
      description:
        'OpenAI-compatible inference API as vLLM implements it: completions and chat completions (streamed as Server-Sent Events with `stream: true`), models, tokenizer routes and health. Errors are `{"error": {message, type, param, code}}`. Unknown body fields are ignored.',
    },
    routes(controllers),
    REQUEST_SCHEMAS,
  );
}

const TAG_ORDER = ['openai', 'utility', 'operations'];

function routes(controllers: readonly Type<unknown>[]): RouteDoc[] {
  const rank = (tag: string) => (TAG_ORDER.includes(tag) ? TAG_ORDER.indexOf(tag) : TAG_ORDER.length);
  return routeDocs([...controllers, AdminController]).sort((a, b) => rank(a.tag) - rank(b.tag) || a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
}
