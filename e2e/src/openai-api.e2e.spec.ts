import OpenAI from 'openai';
import { GOLDEN_TEXT, MODEL_NAME, withVllmParams } from './support/golden.js';
import { startStack, type Stack } from './support/stack.js';

/**
 * The whole stack through the official `openai` client: nats-server and the four services as
 * real processes, the real engine on the bundled model. One stack for the file.
 */
describe('OpenAI API end to end', () => {
  let stack: Stack;
  let client: OpenAI;
  let base: string;

  beforeAll(async () => {
    stack = await startStack();
    base = `http://127.0.0.1:${stack.apiPort}`;
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
  });
  afterAll(async () => {
    if (stack) await stack.stop('SIGINT');
  });

  const greedy = async (prompt: string, maxTokens: number) =>
    (await client.completions.create({ model: MODEL_NAME, prompt, max_tokens: maxTokens, temperature: 0 })).choices[0]!.text;

  it('reproduces the golden story from an empty prompt, with exact usage', async () => {
    const completion = await client.completions.create({ model: MODEL_NAME, prompt: '', max_tokens: 200, temperature: 0 });
    expect(completion.choices[0]!.text).toBe(GOLDEN_TEXT);
    expect(completion.choices[0]!.finish_reason).toBe('length');
    expect(completion.usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 200, total_tokens: 201 });
  });

  it('decodes ahead by default (decode_ahead_max_seqs 8): the golden story used such steps', async () => {
    // The counterpart of settings.e2e.spec.ts, where decode_ahead_max_seqs 0 leaves this at zero.
    const executor = (await (await fetch(`http://127.0.0.1:${stack.adminPorts.executor}/executor`)).json()) as { decodeAhead: { used: number } };
    // How many of the 200 steps ran ahead depends on timing (a step that arrives while the
    // speculation runs uses it); > 100 on a quiet machine, 78–93 seen on a loaded one. Nonzero
    // is what tells the default (8) from settings.e2e's 0.
    expect(executor.decodeAhead.used).toBeGreaterThan(20);
  });

  it('streams a chat completion whose deltas concatenate to the non-streamed text', async () => {
    const messages = [{ role: 'user' as const, content: 'Once upon a time, there was a dog' }];
    const whole = await client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 40, temperature: 0 });
    const stream = await client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 40, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let role: string | undefined;
    let finish: string | null | undefined;
    let streamedUsage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) streamedUsage = chunk.usage;
      for (const choice of chunk.choices) {
        role ??= choice.delta.role;
        text += choice.delta.content ?? '';
        finish = choice.finish_reason ?? finish;
      }
    }
    expect(text.length).toBeGreaterThan(0);
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(role).toBe('assistant');
    expect(finish).toBe(whole.choices[0]!.finish_reason);
    expect(streamedUsage).toEqual(expect.objectContaining({ prompt_tokens: whole.usage!.prompt_tokens, completion_tokens: whole.usage!.completion_tokens }));
  });

  it('returns token ids with return_token_ids, streamed and not, on both endpoints', async () => {
    type WithIds = { token_ids: number[]; prompt_token_ids?: number[] };
    const body = withVllmParams({ model: MODEL_NAME, prompt: [1, 403, 407, 261], max_tokens: 12, temperature: 0 }, { return_token_ids: true });
    const whole = await client.completions.create(body);
    const choice = whole.choices[0] as unknown as WithIds;
    // The prompt as given (ids pass through untouched), and one id per generated token.
    expect(choice.prompt_token_ids).toEqual([1, 403, 407, 261]);
    expect(choice.token_ids).toHaveLength(whole.usage!.completion_tokens);
    const streamed: number[] = [];
    let streamedPrompt: number[] | undefined;
    for await (const chunk of await client.completions.create({ ...body, stream: true })) {
      const c = chunk.choices[0] as unknown as WithIds;
      streamed.push(...c.token_ids);
      if (c.prompt_token_ids) {
        expect(streamedPrompt).toBeUndefined(); // on the first chunk only
        streamedPrompt = c.prompt_token_ids;
      }
    }
    expect(streamed).toEqual(choice.token_ids);
    expect(streamedPrompt).toEqual([1, 403, 407, 261]);

    const chat = await client.chat.completions.create(withVllmParams({ model: MODEL_NAME, messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5, temperature: 0 }, { return_token_ids: true }));
    expect((chat as unknown as { prompt_token_ids: number[] }).prompt_token_ids).toHaveLength(chat.usage!.prompt_tokens);
    expect((chat.choices[0] as unknown as WithIds).token_ids).toHaveLength(chat.usage!.completion_tokens);
    // Without the flag, nothing extra.
    expect(Object.keys((await client.completions.create({ model: MODEL_NAME, prompt: 'Hi', max_tokens: 2 })).choices[0]!)).not.toContain('token_ids');
  });

  it('serves 64 concurrent streams, each exactly as when run alone', async () => {
    const prompts = Array.from({ length: 64 }, (_, i) => `Once upon a time, a ${['cat', 'dog', 'girl', 'boy'][i % 4]} named ${['Tim', 'Sue', 'Max', 'Lily'][Math.floor(i / 4) % 4]} saw ${i} birds`);
    const alone: string[] = [];
    for (const p of prompts) alone.push(await greedy(p, 24));
    const together = await Promise.all(
      prompts.map(async (prompt) => {
        const stream = await client.completions.create({ model: MODEL_NAME, prompt, max_tokens: 24, temperature: 0, stream: true });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
        return text;
      }),
    );
    expect(together).toEqual(alone);
  });

  it('cuts the text before a stop string that spans tokens, and reports it', async () => {
    const full = await greedy('', 60);
    const cut = full.indexOf('little girl');
    expect(cut).toBeGreaterThan(0);
    const completion = await client.completions.create({ model: MODEL_NAME, prompt: '', max_tokens: 60, temperature: 0, stop: ['tle gi'] });
    expect(completion.choices[0]!.text).toBe(full.slice(0, full.indexOf('tle gi')));
    expect(completion.choices[0]!.finish_reason).toBe('stop');
  });

  it('returns n seeded choices that differ and are reproducible', async () => {
    const ask = () => client.completions.create({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 20, temperature: 1, n: 3, seed: 1234 });
    const [a, b] = [await ask(), await ask()];
    expect(a.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(a.choices.map((c) => c.text)).toEqual(b.choices.map((c) => c.text));
    expect(new Set(a.choices.map((c) => c.text)).size).toBeGreaterThan(1);
  });

  it('returns logprobs in each endpoint’s shape', async () => {
    const completion = await client.completions.create({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, logprobs: 3 });
    const lp = completion.choices[0]!.logprobs!;
    expect(lp.tokens).toHaveLength(5);
    expect(lp.token_logprobs).toHaveLength(5);
    for (const top of lp.top_logprobs!) {
      const values = Object.values(top!);
      expect(values.length).toBeGreaterThanOrEqual(1);
      expect(values.length).toBeLessThanOrEqual(3);
      for (const v of values) expect(v).toBeLessThanOrEqual(0);
    }
    expect(lp.tokens!.join('')).toBe(completion.choices[0]!.text);
    const chat = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 2 });
    const content = chat.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(5);
    for (const entry of content) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.top_logprobs).toHaveLength(2);
      expect(entry.top_logprobs[0]!.logprob).toBeGreaterThanOrEqual(entry.top_logprobs[1]!.logprob);
    }
  });

  const schedulerStats = async () =>
    (await (await fetch(`http://127.0.0.1:${stack.adminPorts.scheduler}/stats`)).json()) as {
      scheduler: { kvCache: { numBlocksUsed: number; numBlocksCached: number }; prefixCache: { numQueryTokens: number; numHitTokens: number } };
    };

  it('serves a repeated long prompt from the prefix cache the second time', async () => {
    const prompt = 'Once upon a time, there was a little girl named Lily who loved to play in the big green park with her friend Tim. '.repeat(3);
    const first = await client.completions.create({ model: MODEL_NAME, prompt, max_tokens: 4, temperature: 0 });
    const before = (await schedulerStats()).scheduler.prefixCache.numHitTokens;
    const second = await client.completions.create({ model: MODEL_NAME, prompt, max_tokens: 4, temperature: 0 });
    const after = (await schedulerStats()).scheduler.prefixCache.numHitTokens;
    const promptTokens = first.usage!.prompt_tokens;
    expect(promptTokens).toBeGreaterThan(64);
    // Every full block but the one holding the last prompt token is a hit.
    expect(after - before).toBeGreaterThanOrEqual(Math.floor((promptTokens - 1) / 16) * 16);
    expect((second.usage as unknown as { prompt_tokens_details: { cached_tokens: number } }).prompt_tokens_details.cached_tokens).toBe(after - before);
    expect(second.choices[0]!.text).toBe(first.choices[0]!.text);
  });

  it('frees the KV blocks of 20 streams the client aborts mid-way', async () => {
    const controllers = Array.from({ length: 20 }, () => new AbortController());
    const received = await Promise.all(
      controllers.map(async (controller, i) => {
        const stream = await client.completions.create(withVllmParams({ model: MODEL_NAME, prompt: `Once upon a time ${i}`, max_tokens: 400, temperature: 0.8, stream: true }, { ignore_eos: true }), { signal: controller.signal });
        let chunks = 0;
        try {
          for await (const _chunk of stream) {
            if (++chunks === 5) controller.abort();
          }
        } catch {
          // the abort surfaces as an error in the iterator
        }
        return chunks;
      }),
    );
    expect(received.every((n) => n >= 5 && n < 400)).toBe(true);
    const deadline = Date.now() + 5000;
    let used = -1;
    while (Date.now() < deadline && used !== 0) {
      used = (await schedulerStats()).scheduler.kvCache.numBlocksUsed;
      if (used !== 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(used).toBe(0);
  });

  it('refuses requests while the scheduler drains (429), closing the tokenizer streams they opened', async () => {
    const admin = `http://127.0.0.1:${stack.adminPorts.scheduler}`;
    expect((await fetch(`${admin}/drain`, { method: 'POST' })).status).toBe(200);
    try {
      const status = await client.completions.create({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 4, n: 2 }).then(() => 200, (err: { status?: number }) => err.status);
      expect(status).toBe(429);
      const tokenizerMetrics = () => fetch(`http://127.0.0.1:${stack.adminPorts.tokenizer}/metrics`).then((r) => r.text());
      const deadline = Date.now() + 3000;
      let metrics = await tokenizerMetrics();
      while (!/deepinfer_tokenizer_active_streams\{[^}]*\} 0$/m.test(metrics) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        metrics = await tokenizerMetrics();
      }
      expect(metrics).toMatch(/deepinfer_tokenizer_active_streams\{[^}]*\} 0$/m);
      expect(metrics).toMatch(/deepinfer_tokenizer_dropped_streams_total\{[^}]*reason="closed"[^}]*\} [1-9]/m);
    } finally {
      await fetch(`${admin}/resume`, { method: 'POST' });
    }
    expect(await greedy('Once', 3)).toEqual(expect.any(String));
  });

  it('lists the model with its context length', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([MODEL_NAME]);
    expect((models.data[0] as unknown as { max_model_len: number }).max_model_len).toBe(512);
  });

  describe('bad input gets the right 4xx and the services stay up', () => {
    const post = (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => fetch(`${base}${path}`, { method: 'POST', body, headers });

    it.each([
      ['malformed JSON', '/v1/completions', '{"prompt": "x",', 400],
      ['a wrong type', '/v1/completions', JSON.stringify({ prompt: 'x', max_tokens: 'ten' }), 400],
      ['negative max_tokens', '/v1/completions', JSON.stringify({ prompt: 'x', max_tokens: -1 }), 400],
      ['temperature 3', '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }], temperature: 3 }), 400],
      ['an unknown model', '/v1/completions', JSON.stringify({ model: 'gpt-9', prompt: 'x' }), 404],
      ['a prompt longer than the context', '/v1/completions', JSON.stringify({ prompt: 'Once upon a time '.repeat(300), max_tokens: 10 }), 400],
      ['an unknown role', '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'wizard', content: 'x' }] }), 400],
      ['a 10 MB body', '/v1/completions', JSON.stringify({ prompt: 'x'.repeat(10 * 1024 * 1024) }), 413],
      ['an unknown route', '/v1/nothing', '{}', 404],
      // It overflowed the validation's stack (a 500) before the nesting limit.
      ['a body nested 5,000 levels deep', '/v1/completions', `{"prompt":"x","extra":${'['.repeat(5000)}${']'.repeat(5000)}}`, 400],
      ['chat content nested 5,000 levels deep', '/v1/chat/completions', `{"messages":[{"role":"user","content":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}]}`, 400],
    ])('%s', async (_label, path, body, status) => {
      const res = await post(path, body);
      expect(res.status).toBe(status);
      const json = (await res.json()) as { error: { message: string; type: string } };
      expect(typeof json.error.message).toBe('string');
      expect(json.error.message.length).toBeGreaterThan(0);
      expect(await greedy('Once', 3)).toEqual(expect.any(String));
    });
  });

  it('runs a request with a field it does not know (reject_unknown_fields is off by default)', async () => {
    const res = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Once', max_tokens: 2, not_a_field: 1, stream_options: undefined }) });
    expect(res.status).toBe(200);
    // settings.e2e.spec.ts runs reject_unknown_fields: true and gets a 400 for the same field.
  });

  it('GET /health is 200 when every service answers, and /metrics counts requests', async () => {
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/deepinfer_api_requests_total\{route="\/v1\/completions",status="200",service="api"\} \d+/);
    expect(metrics).toContain('deepinfer_time_to_first_token_seconds_bucket');
    expect((await fetch(`${base}/version`)).status).toBe(200);
  });
});
