import { ChatCompletionRequestDto } from './dto/chat-completion-request.dto.js';
import { openApiDocument } from './openapi-document.js';

describe('openApiDocument', () => {
  const info = { title: 'T', version: '1.2.3', description: 'd' };

  it('documents each route with its request schema, auth and error responses', () => {
    const doc = openApiDocument(
      info,
      [
        { method: 'POST', path: '/v1/chat/completions', tag: 'openai', summary: 'chat', body: 'ChatCompletionRequest', auth: true, streams: true },
        { method: 'GET', path: '/metrics', tag: 'ops', summary: 'metrics', produces: 'text/plain' },
      ],
      { ChatCompletionRequest: ChatCompletionRequestDto },
    ) as { openapi: string; info: unknown; paths: Record<string, Record<string, Record<string, unknown>>>; components: { schemas: Record<string, { required?: string[] }> } };
    expect(doc.openapi).toBe('3.0.3');
    expect(doc.info).toEqual(info);
    const chat = doc.paths['/v1/chat/completions']!['post']!;
    expect(chat).toMatchObject({
      tags: ['openai'],
      operationId: 'postV1ChatCompletions',
      security: [{ bearer: [] }],
      requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/ChatCompletionRequest' } } } },
    });
    expect(Object.keys(chat['responses'] as object).sort()).toEqual(['200', '400', '401', '503']);
    expect(Object.keys((chat['responses'] as Record<string, { content: object }>)['200']!.content)).toEqual(['application/json', 'text/event-stream']);
    expect(doc.components.schemas['ChatCompletionRequest']!.required).toEqual(['messages']);
    expect(Object.keys(doc.paths['/metrics']!['get']!['responses'] as object)).toEqual(['200']);
  });

  it('refuses a route naming a schema it does not have', () => {
    expect(() => openApiDocument(info, [{ method: 'POST', path: '/x', tag: 't', summary: 's', body: 'Nope' }], {})).toThrow('no schema Nope');
  });
});
