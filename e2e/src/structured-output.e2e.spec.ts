import { createRequire } from 'node:module';
import { waitFor } from '@deepinfer/testing';
import OpenAI from 'openai';
import { MODEL_NAME, withVllmParams } from './support/golden.js';
import { startStack, type Stack } from './support/stack.js';

const require = createRequire(import.meta.url);
// ajv (draft-07) is already installed (eslint's dependency); used only to check outputs.
const Ajv = require('ajv') as new () => { validate(schema: object, data: unknown): boolean; errorsText(): string };
const ajv = new Ajv();

/**
 * Guided decoding through the official `openai` client against the real stack, on the bundled
 * stories260k model, which writes children's stories and no JSON: every brace, quote and digit
 * below comes from the token masks. Sampling is random (temperature 1, seeded), so the model
 * wanders wherever the grammar lets it; the output must still parse and validate. The length
 * caps are generous: finish_reason `length` is the only way out before the grammar completes.
 */
describe('Structured output end to end', () => {
  let stack: Stack;
  let client: OpenAI;
  let base: string;

  beforeAll(async () => {
    // One mask worker thread: every guided request below has its matcher and masks off the
    // executor's event loop (GuideWorkerPool).
    stack = await startStack(['--guided-decoding-workers', '1']);
    base = `http://127.0.0.1:${stack.apiPort}`;
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120000 });
  });
  afterAll(async () => {
    if (stack) await stack.stop('SIGINT');
  });

  const person = {
    type: 'object',
    properties: {
      name: { type: 'string', pattern: '^[A-Z][a-z]{1,8}$' },
      age: { type: 'integer', minimum: 1, maximum: 120 },
      height: { type: 'number', minimum: 0.5, maximum: 2.5 },
      mood: { type: 'string', enum: ['happy', 'sad', 'sleepy'] },
      pets: { type: 'array', items: { type: 'string', maxLength: 6 }, minItems: 1, maxItems: 3 },
      home: { type: 'object', properties: { town: { type: 'string', maxLength: 10 }, zip: { type: 'string', pattern: '^[0-9]{5}$' } }, required: ['town', 'zip'], additionalProperties: false },
      brave: { type: 'boolean' },
    },
    required: ['name', 'age', 'height', 'mood', 'pets', 'home', 'brave'],
    additionalProperties: false,
  };
  const responseFormat = { type: 'json_schema' as const, json_schema: { name: 'person', schema: person, strict: true } };

  const expectValid = (text: string, schema: object) => {
    const value = JSON.parse(text) as unknown;
    if (!ajv.validate(schema, value)) throw new Error(`${ajv.errorsText()}: ${text}`);
    return value as Record<string, unknown>;
  };

  it('json_schema (chat): nested objects, arrays, enums, patterns and bounded numbers, for several seeds', async () => {
    for (let seed = 1; seed <= 4; seed++) {
      const r = await client.chat.completions.create({
        model: MODEL_NAME,
        messages: [{ role: 'user', content: 'Tell me about a girl.' }],
        response_format: responseFormat,
        temperature: 1,
        seed,
        max_tokens: 400,
      });
      const choice = r.choices[0]!;
      expect(choice.finish_reason).toBe('stop');
      const v = expectValid(choice.message.content!, person);
      expect(Object.keys(v)).toEqual(['name', 'age', 'height', 'mood', 'pets', 'home', 'brave']);
    }
  });

  it('json_schema streamed: the deltas concatenate to a valid document', async () => {
    const stream = await client.chat.completions.create({
      model: MODEL_NAME,
      messages: [{ role: 'user', content: 'Tell me about a boy.' }],
      response_format: responseFormat,
      temperature: 1,
      seed: 11,
      max_tokens: 400,
      stream: true,
    });
    let text = '';
    let finish: string | null = null;
    let chunks = 0;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
      }
      chunks++;
    }
    expect(chunks).toBeGreaterThan(10);
    expect(finish).toBe('stop');
    expectValid(text, person);
  });

  it('json_object on completions (n = 3) and greedy', async () => {
    const r = await client.completions.create({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 300, temperature: 1, seed: 5, n: 3, response_format: { type: 'json_object' } } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(r.choices).toHaveLength(3);
    for (const c of r.choices) {
      // Any JSON object is allowed, so a model that knows no JSON may nest until max_tokens.
      if (c.finish_reason === 'stop') expect(JSON.parse(c.text)).toEqual(expect.any(Object));
      else expect(c.text.startsWith('{')).toBe(true);
    }
    const greedy = await client.completions.create({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 300, temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'object', properties: { n: { type: 'integer', minimum: 3, maximum: 7 } }, required: ['n'], additionalProperties: false } } } } as OpenAI.CompletionCreateParamsNonStreaming);
    const n = (JSON.parse(greedy.choices[0]!.text) as { n: number }).n;
    expect(n >= 3 && n <= 7).toBe(true);
  });

  it('guided_regex and guided_choice (vLLM extensions), streamed and not', async () => {
    const regex = '[0-9]{3}-[a-z]{2,4}(!|\\?)';
    for (let seed = 1; seed <= 3; seed++) {
      const r = await client.completions.create({ model: MODEL_NAME, prompt: 'The code is', max_tokens: 40, temperature: 1, seed, guided_regex: regex } as OpenAI.CompletionCreateParamsNonStreaming);
      expect(r.choices[0]!.text).toMatch(new RegExp(`^${regex}$`));
      expect(r.choices[0]!.finish_reason).toBe('stop');
    }
    const choices = ['sunny', 'rainy', 'a dragon'];
    const seen = new Set<string>();
    for (let seed = 1; seed <= 6; seed++) {
      const r = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Weather?' }], temperature: 1, seed, max_tokens: 20, guided_choice: choices } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      expect(choices).toContain(r.choices[0]!.message.content);
      seen.add(r.choices[0]!.message.content!);
    }
    expect(seen.size).toBeGreaterThan(1);
    const stream = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Weather?' }], temperature: 0, max_tokens: 20, stream: true, structured_outputs: { choice: choices } } as unknown as OpenAI.ChatCompletionCreateParamsStreaming);
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(choices).toContain(text);
  });

  it('finish_reason length is the only way out early', async () => {
    const r = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'x' }], response_format: responseFormat, temperature: 1, seed: 3, max_tokens: 5 });
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage!.completion_tokens).toBe(5);
  });

  it.each([
    [{ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'object', properties: { a: { type: 'integer', multipleOf: 5 } } } } } }, 'response_format.json_schema.schema', /multipleOf is not supported/],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { oneOf: [{ type: 'integer' }] } } } }, 'response_format.json_schema.schema', /oneOf/],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'string', format: 'hostname' } } } }, 'response_format.json_schema.schema', /format "hostname"/],
    [{ guided_regex: '(unclosed' }, 'guided_regex', /invalid regular expression/],
    [{ guided_regex: '(?<=a)b' }, 'guided_regex', /lookbehind assertions are not supported/],
    [{ guided_choice: [] }, 'guided_choice', /non-empty array/],
    [{ guided_regex: 'a', response_format: { type: 'json_object' } }, 'guided_regex', /only one guided-decoding field/],
  ])('a bad guided request is a 400 naming the parameter: %j', async (extra, param, message) => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL_NAME, messages: [{ role: 'user', content: 'x' }], max_tokens: 5, ...extra }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { param: string; message: string; type: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.param).toBe(param);
    expect(body.error.message).toMatch(message);
  });

  it('the openai client surfaces a bad schema as BadRequestError', async () => {
    await expect(
      client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'object', patternProperties: { x: {} } } } } }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  /** `n` optional bounded strings named `prefix_i`: 1.5–4 s of xgrammar compilation on this VM for stories260k's vocabulary (measured with GuidedGrammars). */
  const wideSchema = (prefix: string, n = 60) => ({
    type: 'object',
    properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}_${i}`, { type: 'string', maxLength: 30 + i }])),
    additionalProperties: false,
  });

  /** Streams opened one after another until `isDone()`, noting when each token arrives (stories260k's context is 512 tokens: no single stream lasts). */
  const streamBackToBack = async (open: (i: number) => Promise<AsyncIterable<string | undefined>>, arrivals: number[], isDone: () => boolean) => {
    for (let i = 0; !isDone(); i++) for await (const text of await open(i)) if (text) arrivals.push(performance.now());
  };

  /** The largest gap between consecutive arrivals that overlaps [from, to], and where it starts (ms after `from`). */
  const largestGap = (arrivals: readonly number[], from: number, to: number) => {
    let gapMs = 0;
    let atMs = 0;
    for (let i = 1; i < arrivals.length; i++) {
      if (arrivals[i]! >= from && arrivals[i - 1]! <= to && arrivals[i]! - arrivals[i - 1]! > gapMs) {
        gapMs = arrivals[i]! - arrivals[i - 1]!;
        atMs = arrivals[i - 1]! - from;
      }
    }
    return { gapMs, atMs, numDuring: arrivals.filter((t) => t >= from && t <= to).length };
  };

  /**
   * Sends a request with a schema nothing has compiled yet, streamed, watching the scheduler's
   * count of requests held for their grammar; resolves when it ends, with when it was sent and
   * when its first token came (the compile window lies between).
   */
  const sendNewSchema = async (schema: object) => {
    const statsUrl = `http://127.0.0.1:${stack.adminPorts.scheduler}/stats`;
    let maxHeld = 0;
    const watch = setInterval(() => {
      void fetch(statsUrl).then(async (r) => {
        const held = ((await r.json()) as { scheduler: { numWaitingForGrammarRequests: number } | null }).scheduler?.numWaitingForGrammarRequests ?? 0;
        maxHeld = Math.max(maxHeld, held);
      }, () => undefined);
    }, 20);
    const sent = performance.now();
    let firstToken = 0;
    try {
      const stream = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Describe a cat.' }], response_format: { type: 'json_schema', json_schema: { name: 'wide', schema: schema as Record<string, unknown> } }, temperature: 0, max_tokens: 300, stream: true });
      let text = '';
      let finish: string | null | undefined;
      for await (const chunk of stream) {
        const delta = chunk.choices[0]?.delta?.content;
        if (delta) {
          firstToken ||= performance.now();
          text += delta;
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      if (finish === 'stop') expectValid(text, schema);
      else expect(finish).toBe('length');
    } finally {
      clearInterval(watch);
    }
    return { sent, firstToken, maxHeld };
  };

  it('a new grammar compiles while the batch runs: the scheduler holds its request, the other streams do not stall', async () => {
    // A schema no other test used, so nothing is cached. The scheduler asks the executor to
    // compile it (executorPrepareGuide) and keeps the request out of the batch meanwhile
    // (WAITING_FOR_GRAMMAR); before that, the executor compiled it inside the first step that
    // held the request, and every stream in that step waited for the compilation.
    const wide = wideSchema('stall');
    const arrivals: number[] = [];
    let guidedDone = false;
    const free = streamBackToBack(
      async (i) => {
        const stream = await client.completions.create(withVllmParams({ model: MODEL_NAME, prompt: `Once upon a time ${i}`, max_tokens: 400, temperature: 0, stream: true }, { ignore_eos: true }));
        return (async function* () {
          for await (const chunk of stream) yield chunk.choices[0]?.text;
        })();
      },
      arrivals,
      () => guidedDone,
    );
    await waitFor('the free stream to be running', () => arrivals.length >= 20);
    let window: Awaited<ReturnType<typeof sendNewSchema>>;
    try {
      window = await sendNewSchema(wide);
    } finally {
      guidedDone = true;
      await free;
    }
    const compileWindowMs = window.firstToken - window.sent;
    const gap = largestGap(arrivals, window.sent, window.firstToken);
    process.stdout.write(`grammar compile window ${compileWindowMs.toFixed(0)} ms (send to first guided token); free-stream tokens meanwhile ${gap.numDuring}, largest gap ${gap.gapMs.toFixed(1)} ms (from ${gap.atMs.toFixed(0)} ms after the send); requests held for their grammar at most ${window.maxHeld}\n`);
    expect(window.maxHeld).toBe(1); // the scheduler held it while the executor compiled
    // The free stream went on during the compilation: many tokens, and no gap of a sizeable part of it.
    expect(gap.numDuring).toBeGreaterThan(20);
    expect(gap.gapMs).toBeLessThan(compileWindowMs / 4);
  });

  it('a new grammar compiles off the worker computing the running guided streams\' masks: they do not stall either', async () => {
    // A cheap schema whose one string cannot close within max_tokens: every request of it runs
    // to `length`, its masks computed by the one worker that holds its grammar. Its first request
    // compiles it; the stream below then finds it compiled.
    const story = { type: 'object', properties: { story: { type: 'string', minLength: 4000 } }, required: ['story'], additionalProperties: false };
    const storyFormat = { type: 'json_schema' as const, json_schema: { name: 'story', schema: story } };
    await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'A story.' }], response_format: storyFormat, temperature: 0, max_tokens: 4 });
    const arrivals: number[] = [];
    let wideDone = false;
    const guided = streamBackToBack(
      async (i) => {
        const stream = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: `A story ${i}.` }], response_format: storyFormat, temperature: 1, seed: i, max_tokens: 300, stream: true });
        return (async function* () {
          for await (const chunk of stream) yield chunk.choices[0]?.delta?.content ?? undefined;
        })();
      },
      arrivals,
      () => wideDone,
    );
    await waitFor('the guided stream to be running', () => arrivals.length >= 20);
    let window: Awaited<ReturnType<typeof sendNewSchema>>;
    try {
      window = await sendNewSchema(wideSchema('offpath', 80));
    } finally {
      wideDone = true;
      await guided;
    }
    const compileWindowMs = window.firstToken - window.sent;
    const gap = largestGap(arrivals, window.sent, window.firstToken);
    process.stdout.write(`grammar compile window ${compileWindowMs.toFixed(0)} ms (send to first guided token); guided-stream tokens meanwhile ${gap.numDuring}, largest gap ${gap.gapMs.toFixed(1)} ms (from ${gap.atMs.toFixed(0)} ms after the send); requests held for their grammar at most ${window.maxHeld}\n`);
    // Held while the executor compiled (the guided stream's own requests are held too, each for
    // the round trip in which the executor confirms it holds their grammar).
    expect(window.maxHeld).toBeGreaterThanOrEqual(1);
    expect(gap.numDuring).toBeGreaterThan(20);
    expect(gap.gapMs).toBeLessThan(compileWindowMs / 4);
  });

  it('computed the masks on the one worker thread asked for (compiles beside guided streams on a thread of their own), and reports mask time and wait-after-forward', async () => {
    type Summary = { count: number; p50Ms: number | null };
    const executor = (await (await fetch(`http://127.0.0.1:${stack.adminPorts.executor}/executor`)).json()) as {
      settings: Record<string, unknown>;
      guidedDecoding: { workers: number; workerLoad: number[]; workerThreads: { numThreads: number; numExtraWorkersStarted: number; numWorkersStopped: number; numCompilesOnBusyWorkers: number } | null; maskTimePerToken: Summary; maskWaitAfterForward: Summary };
    };
    expect(executor.settings['guided_decoding_workers']).toBe(1);
    expect(executor.guidedDecoding.workers).toBe(1);
    // The pool was started (by the first guided request); the schema compiled while a guided
    // stream ran got a thread of its own (stopped after 30 s idle), and no compile ran beside masks.
    const threads = executor.guidedDecoding.workerThreads!;
    expect(threads.numExtraWorkersStarted).toBeGreaterThanOrEqual(1);
    expect(threads.numCompilesOnBusyWorkers).toBe(0);
    expect(executor.guidedDecoding.workerLoad).toHaveLength(threads.numThreads);
    expect(threads.numThreads).toBeLessThanOrEqual(2); // one extra thread at most for guided_decoding_workers 1
    expect(executor.guidedDecoding.maskTimePerToken.count).toBeGreaterThan(0);
    expect(executor.guidedDecoding.maskWaitAfterForward.count).toBeGreaterThan(0);
    const metrics = await (await fetch(`http://127.0.0.1:${stack.adminPorts.executor}/metrics`)).text();
    expect(metrics).toMatch(/deepinfer_executor_guided_mask_seconds_count(\{[^}]*\})? [1-9]/);
    expect(metrics).toMatch(/deepinfer_executor_guided_mask_wait_seconds_count(\{[^}]*\})? [1-9]/);
    expect(metrics).toMatch(/deepinfer_executor_guided_compiles_on_busy_workers_total(\{[^}]*\})? 0\n/);
    expect(metrics).toMatch(new RegExp(`deepinfer_executor_guided_worker_threads(\\{[^}]*\\})? ${threads.numThreads}\n`));
  });
});
