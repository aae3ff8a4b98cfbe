import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { LLAMA_31_8B_DIMS, writeModelShape } from '@deepinfer/testing';
import { startStack, type Stack } from './support/stack.js';

/**
 * The simulated device (device: sim), a measuring instrument, under the real services: the
 * Llama-3.1-8B shape (config.json and the Llama 3 tokenizer, no weights) on the modelled H200.
 * Its tokens are fingerprints of each sequence's context read through the block table, so the
 * checks here are the stack's: a sequence's text does not depend on what it is batched with or
 * on the prefix cache, and the device takes the time its model says. Nothing here is a test of
 * the real engine.
 */
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-sim-e2e-'));
const modelDir = writeModelShape({ architecture: 'llama', dims: LLAMA_31_8B_DIMS, directory: path.join(tmp, 'llama-3.1-8b-shape') });
const MODEL = 'llama-3.1-8b-shape';

interface ExecutorReport {
  device: string;
  backend: string;
  model: { name: string; numLayers: number; vocabSize: number };
  kvCache: { numBlocks: number; bytesPerBlock: number };
  simulator: { profile: string; numSteps: number; busyMs: number; numTokens: number } | null;
}

describe('the simulated device under the real stack (Llama-3.1-8B shape, H200 profile)', () => {
  let stack: Stack;
  let client: OpenAI;
  const executor = async () => (await (await fetch(`http://127.0.0.1:${stack.adminPorts.executor}/executor`)).json()) as ExecutorReport;
  const greedy = async (prompt: string, maxTokens: number) =>
    (await client.completions.create({ model: MODEL, prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming)).choices[0]!.text;

  beforeAll(async () => {
    stack = await startStack(['--device', 'sim', '--sim-profile', 'h200', '--model', modelDir, '--max-num-seqs', '64']);
    client = new OpenAI({ baseURL: `http://127.0.0.1:${stack.apiPort}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
  });
  afterAll(async () => {
    if (stack) await stack.stop('SIGINT');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('reports itself as a simulated device with the 8B shape and a KV cache sized for the card', async () => {
    const report = await executor();
    expect(report.device).toBe('sim:h200');
    expect(report.backend).toBe('sim-h200');
    expect(report.model).toMatchObject({ name: MODEL, numLayers: 32, vocabSize: 128256 });
    // 32 layers x 8 KV heads x 128 dims x K and V x 2 bytes x 16 tokens.
    expect(report.kvCache.bytesPerBlock).toBe(32 * 8 * 128 * 2 * 2 * 16);
    // An H200 at 0.9 after 16 GB of weights holds over half a million tokens.
    expect(report.kvCache.numBlocks * 16).toBeGreaterThan(500_000);
    expect(stack.output()).toMatch(/device sim: a simulated GPU/);
  });

  it('takes the modelled time: 48 greedy tokens of one stream keep the device busy about 48 decode steps', async () => {
    const before = (await executor()).simulator!;
    const started = performance.now();
    await greedy('The capital of France is', 48);
    const wallMs = performance.now() - started;
    const after = (await executor()).simulator!;
    const busyMs = after.busyMs - before.busyMs;
    // A batch-1 decode step of the 8B shape on the H200 model is about 5 ms (200 tok/s measured).
    expect(busyMs).toBeGreaterThan(48 * 4);
    expect(busyMs).toBeLessThan(48 * 7);
    expect(wallMs).toBeGreaterThanOrEqual(busyMs);
  });

  it('keeps guided decoding valid: a choice, and JSON under a schema, on the 128K Llama 3 vocabulary', async () => {
    const choice = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Weather?' }], max_tokens: 20, temperature: 1, seed: 3, guided_choice: ['sunny', 'rainy', 'a dragon'] } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(['sunny', 'rainy', 'a dragon']).toContain(choice.choices[0]!.message.content);
    const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 9 }, ok: { type: 'boolean' } }, required: ['n', 'ok'], additionalProperties: false };
    const json = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'JSON' }], max_tokens: 60, temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 'x', schema, strict: true } } });
    expect(json.choices[0]!.finish_reason).toBe('stop');
    const value = JSON.parse(json.choices[0]!.message.content!) as { n: number; ok: boolean };
    expect(Object.keys(value)).toEqual(['n', 'ok']);
    expect(value.n).toBeGreaterThanOrEqual(1);
    expect(value.n).toBeLessThanOrEqual(9);
    expect(typeof value.ok).toBe('boolean');
  });

  it('gives each sequence the same text alone, in a batch of 24, and from the prefix cache', async () => {
    const prompts = Array.from({ length: 24 }, (_, i) => `Write a short story about robot number ${i} and its ${['cat', 'dog', 'bird'][i % 3]}.`);
    const alone: string[] = [];
    for (const p of prompts.slice(0, 6)) alone.push(await greedy(p, 24));
    const together = await Promise.all(prompts.map((p) => greedy(p, 24)));
    expect(together.slice(0, 6)).toEqual(alone);
    expect(new Set(together).size).toBe(prompts.length);
    // A long shared prefix: the second request starts from cached blocks and must continue the same.
    const long = 'You are a careful assistant. '.repeat(40) + 'Summarise the plot of Hamlet.';
    const first = await greedy(long, 16);
    const stats = async () =>
      ((await (await fetch(`http://127.0.0.1:${stack.adminPorts.scheduler}/stats`)).json()) as { scheduler: { prefixCache: { numHitTokens: number } } }).scheduler.prefixCache.numHitTokens;
    const hitsBefore = await stats();
    expect(await greedy(long, 16)).toBe(first);
    expect((await stats()) - hitsBefore).toBeGreaterThan(200);
  });
});
