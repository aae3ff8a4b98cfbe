import OpenAI from 'openai';
import { waitFor } from '@deepinfer/testing';
import { MODEL_NAME, withVllmParams } from './support/golden.js';
import { commandLineOf, startStack, type Stack } from './support/stack.js';

/**
 * Faults, with the stack under `deepinfer serve` (which restarts whatever dies): a dead
 * executor ends open streams with an error and answers a waiting request with 503, a dead tokenizer makes requests fail fast with 503,
 * and a restarted nats-server is rejoined by every service on its own.
 */
describe('faults', () => {
  let stack: Stack;
  let client: OpenAI;

  beforeAll(async () => {
    stack = await startStack();
    client = new OpenAI({ baseURL: `http://127.0.0.1:${stack.apiPort}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30000 });
  });
  afterAll(async () => {
    if (stack) await stack.stop('SIGINT');
  });

  const pidOf = (what: string) => stack.childPids().find((p) => commandLineOf(p).includes(what));
  const healthy = async () => (await fetch(`http://127.0.0.1:${stack.apiPort}/health`).catch(() => undefined))?.status === 200;
  const complete = () => client.completions.create({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });

  it('kill the executor mid-stream: every open stream ends with an error within 5 s, a waiting non-streamed request gets a 503 to retry; then it serves again', async () => {
    const whole = client.completions
      .create(withVllmParams({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 500, temperature: 0.7 }, { ignore_eos: true }))
      .then(() => ({ status: 200, message: '' }), (err: unknown) => ({ status: err instanceof OpenAI.APIError ? err.status : -1, message: String(err) }));
    const streams = await Promise.all(
      Array.from({ length: 4 }, (_, i) => client.completions.create(withVllmParams({ model: MODEL_NAME, prompt: `Once upon a time ${i}`, max_tokens: 500, temperature: 0.7, stream: true }, { ignore_eos: true }))),
    );
    const outcomes = streams.map(async (stream) => {
      let chunks = 0;
      try {
        for await (const chunk of stream) {
          chunks++;
          if ((chunk as unknown as { error?: unknown }).error) return { ended: 'error-event', chunks, at: Date.now() };
        }
        return { ended: 'done', chunks, at: Date.now() };
      } catch {
        return { ended: 'error', chunks, at: Date.now() };
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    process.kill(pidOf('apps/executor/dist/main.js')!, 'SIGKILL');
    const results = await Promise.all(outcomes);
    for (const r of results) {
      expect(r.ended).not.toBe('done');
      expect(r.at - killedAt).toBeLessThan(5000);
    }
    // Nothing was sent for it yet: the lost engine is a 503 (unavailable), not a 500.
    expect(await whole).toEqual({ status: 503, message: expect.stringContaining('retry it') });
    await waitFor('the stack ready again', healthy, 60000, 250);
    expect((await complete()).choices[0]!.text.length).toBeGreaterThan(0);
  });

  it('kill the tokenizer: requests fail fast with 503; it comes back', async () => {
    process.kill(pidOf('apps/tokenizer/dist/main.js')!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const status = await complete().then(() => 200, (err: { status?: number }) => err.status);
    expect(status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2000);
    await waitFor('the stack ready again', healthy, 60000, 250);
    expect((await complete()).choices[0]!.text.length).toBeGreaterThan(0);
  });

  it('restart nats-server: the services reconnect by themselves', async () => {
    process.kill(pidOf('nats-server')!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1500));
    await waitFor('the stack ready again', healthy, 60000, 250);
    await waitFor('a completion', () => complete().then((r) => r.choices[0]!.text.length > 0, () => false), 30000, 500);
  });
});
