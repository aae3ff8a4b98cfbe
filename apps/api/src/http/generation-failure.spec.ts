import OpenAI from 'openai';
import { Routes, type StreamDelta, type SubmitMessage } from '@deepinfer/contracts';
import { MessageBus } from '@deepinfer/messaging';
import { createLogger } from '@deepinfer/observability';
import { bootstrapService, type RunningService } from '@deepinfer/service-kit';
import { getFreePort, startNatsServer, type NatsServerHandle } from '@deepinfer/testing';
import { API_SERVICE } from '../api.service-definition.js';

const MODEL = 'test-model';
const REFUSAL = 'guided decoding: the grammar cannot be compiled: the grammar is too large for this vocabulary';

/** How the stand-in scheduler ends every request it accepts (the final delta the tokenizer relays). */
type Ending = Pick<StreamDelta, 'error' | 'errorCode'>;

/**
 * The real api service (over a real nats-server, asked with the real openai client) with its
 * peers stood in on the bus: a tokenizer that opens the streams and a scheduler that accepts each
 * submit and ends the request at once with a failure, as the real tokenizer relays a scheduler's
 * final output (scheduler.module.spec and tokenizer.service.spec check those halves). Checked
 * here: the api's half. A failed choice with a protocol code is that code's HTTP error as JSON,
 * also for a stream, which has sent nothing when its choices fail before any output.
 */
describe('api: a generation that fails before any output (a grammar the executor refused)', () => {
  let nats: NatsServerHandle;
  let api: RunningService;
  let peers: MessageBus;
  let client: OpenAI;
  let base: string;
  let ending: Ending = {};
  const submitted: SubmitMessage[] = [];
  const streams = new Map<string, string>();

  beforeAll(async () => {
    nats = await startNatsServer();
    const port = await getFreePort();
    api = await bootstrapService(API_SERVICE, {
      argv: ['--port', String(port), '--api-admin-port', String(await getFreePort()), '--host', '127.0.0.1', '--served-model-name', MODEL],
      env: { DEEPINFER_NATS_URL: nats.url, DEEPINFER_LOG_LEVEL: 'error' },
    });
    peers = await MessageBus.connect({ url: nats.url, name: 'test-peers', logger: createLogger({ name: 'test', level: 'error' }) });
    const encoded = (request: { streams?: readonly { requestId: string; deltasSubject: string }[] }) => {
      for (const s of request.streams ?? []) streams.set(s.requestId, s.deltasSubject);
      return { tokenIds: [1, 403], numTokens: 2, maxModelLen: 512, tokenizerInstanceId: 'tokenizer-stand-in' };
    };
    peers.serve(Routes.tokenizerEncode, encoded);
    peers.serve(Routes.tokenizerChat, (request) => ({ ...encoded(request), prompt: '<s>Once' }));
    peers.serve(Routes.schedulerSubmit, (message) => {
      submitted.push(message);
      const final: StreamDelta = { requestId: message.requestId, seq: 0, text: '', tokenIds: [], finishReason: 'error', usage: { numPromptTokens: 2, numCachedTokens: 0, numOutputTokens: 0 }, ...ending };
      // After the reply, as the scheduler's refusal follows its acceptance.
      setImmediate(() => peers.emit(Routes.apiDeltas.fromSubject(streams.get(message.requestId)!), { deltas: [final] }));
      return { accepted: true, schedulerInstanceId: 'scheduler-stand-in', replicaId: 'r0' };
    });
    await peers.flush();
    base = `http://127.0.0.1:${port}`;
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await peers?.close();
    await api?.close();
    await nats?.stop();
  });
  beforeEach(() => {
    ending = { error: REFUSAL, errorCode: 'bad_request' };
    submitted.length = 0;
  });

  const rejection = async (call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> => {
    const err = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpenAI.APIError);
    return err as InstanceType<typeof OpenAI.APIError>;
  };

  it('non-streamed: a 400 invalid_request_error naming the executor\'s reason', async () => {
    const err = await rejection(client.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 8, guided_regex: '[a-z]{3}' } as OpenAI.CompletionCreateParamsNonStreaming));
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.error).toEqual({ message: REFUSAL, type: 'invalid_request_error', param: null, code: 'bad_request' });
    expect(submitted.map((m) => m.samplingParams.guided)).toEqual([{ kind: 'regex', pattern: '[a-z]{3}' }]);
  });

  it('streamed, n = 2 (every choice refused): the same JSON error instead of an event stream', async () => {
    const responseFormat = { type: 'json_schema' as const, json_schema: { name: 'p', schema: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false } } };
    const err = await rejection(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Once' }], response_format: responseFormat, n: 2, max_tokens: 8, stream: true }));
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.error).toMatchObject({ message: REFUSAL, type: 'invalid_request_error', code: 'bad_request' });
    expect(submitted).toHaveLength(2);
    // On the wire: a plain JSON response, not one byte of SSE.
    const raw = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'Once', max_tokens: 8, stream: true, guided_choice: ['yes', 'no'] }) });
    expect(raw.status).toBe(400);
    expect(raw.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await raw.json()).toEqual({ error: { message: REFUSAL, type: 'invalid_request_error', param: null, code: 'bad_request' } });
  });

  it('a failure without a code is still the engine\'s (500 generation_failed)', async () => {
    ending = { error: 'the engine returned no token for this request' };
    const err = await rejection(client.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 8 }));
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.error).toMatchObject({ message: 'the engine returned no token for this request', type: 'server_error', code: 'generation_failed' });
  });
});
