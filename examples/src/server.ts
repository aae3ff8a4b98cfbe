import OpenAI from 'openai';

/** Where the examples find the server: DEEPINFER_URL (default http://localhost:8000) and DEEPINFER_API_KEY. */
export function deepinferClient(): OpenAI {
  const base = process.env['DEEPINFER_URL'] ?? 'http://localhost:8000';
  return new OpenAI({ baseURL: `${base}/v1`, apiKey: process.env['DEEPINFER_API_KEY'] ?? 'none', maxRetries: 2 });
}

/** The one model the server serves (its /v1/models). */
export async function servedModel(client: OpenAI): Promise<string> {
  const models = await client.models.list();
  return models.data[0]!.id;
}
