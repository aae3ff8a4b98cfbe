import { dtoJsonSchema, type JsonSchema } from './dto/dto-json-schema.js';

/** One documented route, as the api's controllers declare it. */
export interface RouteDoc {
  /** GET, POST, ... */
  readonly method: string;
  /** `/v1/chat/completions` */
  readonly path: string;
  readonly tag: string;
  readonly summary: string;
  readonly description?: string;
  /** The request body's schema name (a key of the document's schemas). */
  readonly body?: string;
  /** Needs `Authorization: Bearer <api_key>` when the server sets one. */
  readonly auth?: boolean;
  /** Answers Server-Sent Events when the body says `stream: true`. */
  readonly streams?: boolean;
  /** Content type of the 200 answer (default application/json). */
  readonly produces?: string;
}

export interface OpenApiInfo {
  readonly title: string;
  readonly version: string;
  readonly description: string;
}

const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message', 'type'],
      properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: 'string', nullable: true }, code: { type: 'string', nullable: true } },
    },
  },
};

/**
 * The OpenAPI 3.0 document of the public API: the routes the controllers declare, and request
 * schemas derived from the DTO classes' class-validator decorators (dtoJsonSchema), the same
 * decorators that validate the bodies, so the document cannot drift from what the api accepts.
 */
export function openApiDocument(info: OpenApiInfo, routes: readonly RouteDoc[], requestDtos: Record<string, new () => object>): Record<string, unknown> {
  const schemas: Record<string, JsonSchema> = { Error: ERROR_SCHEMA };
  for (const [name, dto] of Object.entries(requestDtos)) schemas[name] = dtoJsonSchema(dto);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    if (route.body !== undefined && !(route.body in schemas)) throw new Error(`${route.method} ${route.path}: no schema ${route.body}`);
    const produces = route.produces ?? 'application/json';
    const ok: Record<string, unknown> = { [produces]: { schema: produces === 'application/json' ? { type: 'object' } : { type: 'string' } } };
    if (route.streams) ok['text/event-stream'] = { schema: { type: 'string', description: '`data: <chunk JSON>` events, then `data: [DONE]`' } };
    const responses: Record<string, unknown> = {
      '200': { description: route.streams ? 'the response object, or with `stream: true` Server-Sent Events' : 'OK', content: ok },
    };
    if (route.body !== undefined) responses['400'] = errorResponse('invalid request: a wrong type or range (`param` names it), malformed JSON');
    if (route.auth) responses['401'] = errorResponse('`api_key` is set and the Bearer key is missing or wrong');
    if (route.path.startsWith('/v1/') && route.method !== 'GET') responses['503'] = errorResponse('a service is down or no executor is registered (Retry-After)');
    const operation: Record<string, unknown> = {
      tags: [route.tag],
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      operationId: operationId(route),
      ...(route.auth ? { security: [{ bearer: [] }] } : {}),
      ...(route.body !== undefined ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${route.body}` } } } } } : {}),
      responses,
    };
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.0.3',
    info: { title: info.title, version: info.version, description: info.description },
    paths,
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the server\'s api_key, when it sets one' } } },
  };
}

function errorResponse(description: string): Record<string, unknown> {
  return { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
}

function operationId(route: RouteDoc): string {
  const words = route.path.split(/[^a-zA-Z0-9]+/).filter(Boolean);
  return route.method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}
