import type { RunningService } from '@deepinfer/service-kit';
import { startNatsServer, type NatsServerHandle } from '@deepinfer/testing';
import { startTokenizer } from './test-support/tokenizer-harness.js';

describe('tokenizer admin HTTP', () => {
  let nats: NatsServerHandle;
  let service: RunningService;

  beforeAll(async () => {
    nats = await startNatsServer();
    // An explicit max_model_len wins over config.json's.
    service = await startTokenizer(nats.url, ['--max-model-len', '256']);
  });
  afterAll(async () => {
    await service?.close();
    await nats?.stop();
  });

  const post = async (route: string, body: unknown) => {
    const res = await fetch(`${service.adminUrl}/${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('GET /tokenizer summarizes the loaded tokenizer', async () => {
    const res = await fetch(`${service.adminUrl}/tokenizer`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      model: 'models/stories260k',
      vocab_size: 512,
      bos_token: { id: 1, text: '<s>' },
      adds_bos_token: true,
      eos_tokens: [{ id: 2, text: '</s>' }, { id: 1, text: '<s>' }],
      has_chat_template: true,
      max_model_len: 256,
      max_model_len_source: 'max_model_len setting',
      tokenizer_model_max_length: 512,
    });
    expect(body['special_tokens']).toEqual(expect.arrayContaining([{ id: 0, text: '<unk>' }]));
  });

  it('POST /tokenize counts text or rendered messages', async () => {
    expect(await post('tokenize', { text: 'Once upon a time' })).toEqual({ status: 200, body: { tokens: [1, 403, 407, 261, 378], count: 5, max_model_len: 256 } });
    expect((await post('tokenize', { text: 'Once upon a time', add_special_tokens: false })).body['tokens']).toEqual([403, 407, 261, 378]);
    expect(await post('tokenize', { messages: [{ role: 'user', content: 'Once upon a time' }] })).toEqual({
      status: 200,
      body: { tokens: [1, 403, 407, 261, 378], count: 5, max_model_len: 256, prompt: '<s>Once upon a time' },
    });
  });

  it('POST /detokenize decodes', async () => {
    expect(await post('detokenize', { tokens: [1, 403, 407, 261, 378] })).toEqual({ status: 200, body: { prompt: 'Once upon a time' } });
  });

  it.each([
    ['tokenize', {}, 'text'],
    ['tokenize', { text: 'a', messages: [] }, 'text'],
    ['tokenize', { text: 5 }, 'text'],
    ['tokenize', { messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    ['detokenize', { tokens: 'x' }, 'tokens'],
    ['detokenize', { tokens: [1, 600] }, 'tokens'],
  ])('POST /%s %j is a 400 with an OpenAI error body', async (route, body, param) => {
    const res = await post(route, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param, code: 'bad_request' } });
  });

  it('exposes the tokenizer metrics on /metrics', async () => {
    await post('tokenize', { text: 'Once upon a time' });
    const metrics = await (await fetch(`${service.adminUrl}/metrics`)).text();
    for (const name of [
      'deepinfer_tokenizer_encode_duration_seconds_bucket',
      'deepinfer_tokenizer_detokenize_duration_seconds_bucket',
      'deepinfer_tokenizer_encoded_tokens_total',
      'deepinfer_tokenizer_active_streams',
      'deepinfer_tokenizer_unknown_outputs_total',
    ]) {
      expect(metrics).toContain(name);
    }
    // Label order in the exposition is prom-client's business: match either.
    const series = (name: string, label: string, value: string) => new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} ${value}$`, 'm');
    expect(metrics).toMatch(series('deepinfer_tokenizer_encode_duration_seconds_count', 'kind="encode"', '[1-9]\\d*'));
    // Labelled series exist before their first observation.
    expect(metrics).toMatch(series('deepinfer_tokenizer_detokenize_duration_seconds_count', 'kind="step"', '0'));
    expect(metrics).toMatch(series('deepinfer_tokenizer_dropped_streams_total', 'reason="idle"', '0'));
  });
});
