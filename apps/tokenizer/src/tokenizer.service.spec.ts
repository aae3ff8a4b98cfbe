import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  ErrorCodes,
  ProtocolError,
  Routes,
  type Address,
  type AbortMessage,
  type RequestRoute,
  type Reply,
  type RequestOutput,
  type StepOutputsMessage,
} from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import type { RunningService } from '@deepinfer/service-kit';
import { startNatsServer, waitFor, type NatsServerHandle } from '@deepinfer/testing';
import { connectClient, DeltaCollector, goldenStory, startTokenizer } from './test-support/tokenizer-harness.js';

describe('tokenizer service over NATS (stories260k)', () => {
  let nats: NatsServerHandle;
  let service: RunningService;
  let client: MessageBus;
  let raw: NatsConnection;
  let deltas: DeltaCollector;
  const deltasSubject = Routes.apiDeltas.at('api-test').subject;
  const outputs = () => Routes.tokenizerOutputs.at(service.state.instanceId);

  beforeAll(async () => {
    nats = await startNatsServer();
    service = await startTokenizer(nats.url);
    client = await connectClient(nats.url);
    raw = await connect({ servers: nats.url });
    deltas = await DeltaCollector.listen(client, deltasSubject);
  });
  afterAll(async () => {
    await raw?.close();
    await client?.close();
    await service?.close();
    await nats?.stop();
  });

  const errorOf = async <Req, Res>(to: Address<RequestRoute<Req, Res>>, payload: Req): Promise<ProtocolError> => {
    try {
      await client.call(to, payload);
    } catch (error) {
      expect(error).toBeInstanceOf(ProtocolError);
      return error as ProtocolError;
    }
    throw new Error(`expected ${to.subject} to fail`);
  };
  const output = (requestId: string, newTokenIds: number[], numOutputTokens: number, extra: Partial<RequestOutput> = {}): RequestOutput => ({
    requestId,
    newTokenIds,
    numPromptTokens: 1,
    numCachedTokens: 0,
    numOutputTokens,
    ...extra,
  });
  const publishSteps = async (steps: StepOutputsMessage[]) => {
    for (const step of steps) client.emit(outputs(), step);
    await client.flush();
  };

  it('is ready once loaded, and says so over NATS with its model', async () => {
    const health = await client.call(Routes.health.at('tokenizer'), {});
    expect(health.status).toBe('ok');
    expect(health.details).toMatchObject({ maxModelLen: 512, activeStreams: 0 });
  });

  it('encodes with BOS and replies with its instance id and the context length', async () => {
    const reply = await client.call(Routes.tokenizerEncode, { text: 'Once upon a time' });
    expect(reply).toEqual({ tokenIds: [1, 403, 407, 261, 378], numTokens: 5, maxModelLen: 512, tokenizerInstanceId: service.state.instanceId });
    const bare = await client.call(Routes.tokenizerEncode, { text: 'Once upon a time', addSpecialTokens: false });
    expect(bare.tokenIds).toEqual([403, 407, 261, 378]);
  });

  it('renders the chat template and encodes it', async () => {
    const reply = await client.call(Routes.tokenizerChat, { messages: [{ role: 'user', content: 'Once upon a time' }] });
    expect(reply.prompt).toBe('<s>Once upon a time');
    expect(reply.tokenIds).toEqual([1, 403, 407, 261, 378]);
  });

  it('decodes, and answers info', async () => {
    expect(await client.call(Routes.tokenizerDecode, { tokenIds: [1, 403, 407, 261, 378] })).toEqual({ text: 'Once upon a time' });
    expect(await client.call(Routes.tokenizerDecode, { tokenIds: [1, 403], skipSpecialTokens: false })).toEqual({ text: '<s> Once' });
    const info = await client.call(Routes.tokenizerInfo, {});
    expect(info).toMatchObject({ vocabSize: 512, bosTokenId: 1, eosTokenIds: [2, 1], hasChatTemplate: true, maxModelLen: 512 });
    expect(info.specialTokens).toEqual(expect.arrayContaining([{ id: 1, text: '<s>' }, { id: 2, text: '</s>' }]));
  });

  it('refuses a prompt that does not fit, naming the count and the limit', async () => {
    const tooLong = await errorOf(Routes.tokenizerEncode, { text: 'Once upon a time', maxTokens: 508 });
    expect(tooLong.code).toBe(ErrorCodes.contextLengthExceeded);
    expect(tooLong.message).toContain('maximum context length is 512 tokens');
    expect(tooLong.message).toContain('513 tokens (5 in the prompt, 508 for the completion)');
    expect(tooLong.param).toBe('prompt');
    await expect(client.call(Routes.tokenizerEncode, { text: 'Once upon a time', maxTokens: 507 })).resolves.toBeTruthy();
    const huge = await errorOf(Routes.tokenizerChat, { messages: [{ role: 'user', content: 'Once upon a time '.repeat(200) }], streams: [{ requestId: 'long', deltasSubject, detokenize: {} }] });
    expect(huge.code).toBe(ErrorCodes.contextLengthExceeded);
    expect(huge.param).toBe('messages');
  });

  it('maps the library’s client errors to bad_request with their messages and params', async () => {
    const role = await errorOf(Routes.tokenizerChat, { messages: [{ role: 'user', content: 'hi' }, { role: 'wizard', content: 'x' }] });
    expect(role).toMatchObject({ code: ErrorCodes.badRequest, param: 'messages[1].role' });
    expect(role.message).toContain('must be one of system, user, assistant, tool; got "wizard"');
    const content = await errorOf(Routes.tokenizerChat, { messages: [{ role: 'user', content: 42 }] });
    expect(content).toMatchObject({ code: ErrorCodes.badRequest, param: 'messages[0].content' });
    const template = await errorOf(Routes.tokenizerChat, { messages: [{ role: 'user', content: 'hi' }], chatTemplate: "{{ raise_exception('roles must alternate') }}" });
    expect(template.code).toBe(ErrorCodes.badRequest);
    expect(template.message).toContain('roles must alternate');
    const stop = await errorOf(Routes.tokenizerEncode, { text: 'hi', streams: [{ requestId: 's', deltasSubject, detokenize: { stop: [''] } }] });
    expect(stop).toMatchObject({ code: ErrorCodes.badRequest, param: 'stop' });
    const vocab = await errorOf(Routes.tokenizerDecode, { tokenIds: [1, 9999] });
    expect(vocab).toMatchObject({ code: ErrorCodes.badRequest, param: 'tokenIds' });
    expect(vocab.message).toContain('tokenIds[1] = 9999');
  });

  it('answers garbage on every request subject with bad_request, drops it on publish-only ones, and keeps serving', async () => {
    for (const { subject } of [Routes.tokenizerEncode, Routes.tokenizerChat, Routes.tokenizerDecode, Routes.tokenizerInfo]) {
      for (const garbage of ['{nope', '[1,2]', '{"text": 5, "messages": "x", "tokenIds": "y"}']) {
        if (subject === Routes.tokenizerInfo.subject && garbage.startsWith('{"')) continue; // info takes no fields: extra ones are stripped
        const reply = (await raw.request(subject, garbage, { timeout: 2000 })).json<Reply<unknown>>();
        expect({ subject, garbage, reply }).toMatchObject({ subject, garbage, reply: { ok: false, error: { code: ErrorCodes.badRequest } } });
      }
    }
    const dropped = service.bus.droppedMessageCount;
    for (const subject of [outputs().subject, Routes.tokenizerClose.at(service.state.instanceId).subject]) {
      raw.publish(subject, '{nope');
      raw.publish(subject, JSON.stringify({ stepId: 1, outputs: [{ requestId: 'x', newTokenIds: [-1] }], requestIds: 'x' }));
    }
    await raw.flush();
    await waitFor('the malformed messages to be dropped', () => service.bus.droppedMessageCount === dropped + 4);
    await expect(client.call(Routes.tokenizerEncode, { text: 'Once' })).resolves.toMatchObject({ numTokens: 2 });
  });

  it('streams the golden story one token per step: exact text, contiguous seq, usage on the last delta', async () => {
    const { ids, text } = goldenStory();
    const reply = await client.call(Routes.tokenizerEncode, { text: '', streams: [{ requestId: 'golden', deltasSubject, detokenize: {} }] });
    expect(reply.tokenIds).toEqual([1]);
    await publishSteps(ids.map((id, i) => ({ stepId: i + 1, outputs: [output('golden', [id], i + 1, i === ids.length - 1 ? { finishReason: 'length' } : {})] })));
    const got = await deltas.finished('golden');
    expect(got.map((d) => d.text).join('')).toBe(text);
    expect(got.map((d) => d.seq)).toEqual(ids.map((_, i) => i));
    expect(got.flatMap((d) => d.tokenIds)).toEqual(ids);
    expect(got.filter((d) => d.usage !== undefined)).toEqual([got.at(-1)]);
    expect(got.at(-1)).toMatchObject({ finishReason: 'length', usage: { numPromptTokens: 1, numCachedTokens: 0, numOutputTokens: 200 } });
  });

  it('ends at a stop string split across tokens: the stop text never arrives, one abort goes to the scheduler', async () => {
    const { ids } = goldenStory();
    const aborts: AbortMessage[] = [];
    const sub = client.listen(Routes.schedulerAbort, (message) => void aborts.push(message));
    await client.flush();
    try {
      await client.call(Routes.tokenizerEncode, { text: '', streams: [{ requestId: 'stopped', deltasSubject, detokenize: { stop: ['a little g'] } }] });
      // Every step of the story, as a scheduler that has not yet heard the abort would send them.
      await publishSteps(ids.map((id, i) => ({ stepId: 1000 + i, outputs: [output('stopped', [id], i + 1)] })));
      const got = await deltas.finished('stopped');
      expect(got.map((d) => d.text).join('')).toBe('Once upon a time, there was ');
      expect(got.at(-1)).toMatchObject({ finishReason: 'stop', stopReason: 'a little g' });
      await waitFor('the abort', () => aborts.length > 0);
      expect(aborts).toEqual([{ requestIds: ['stopped'], reason: 'stop' }]);
      // The later steps were ignored and counted, not streamed.
      const metrics = await (await fetch(`${service.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/deepinfer_tokenizer_unknown_outputs_total\{service="tokenizer"\} \d+/);
      expect(metrics).toContain('deepinfer_tokenizer_stop_string_hits_total{service="tokenizer"} 1');
    } finally {
      sub.unsubscribe();
    }
  });

  it('passes a failure\'s protocol code on to the api (a grammar the executor refused: bad_request), for each choice', async () => {
    await client.call(Routes.tokenizerEncode, { text: 'Once', streams: [{ requestId: 'refused-0', deltasSubject, detokenize: {} }, { requestId: 'refused-1', deltasSubject, detokenize: {} }] });
    const refusal = { finishReason: 'error' as const, error: 'guided decoding: the grammar cannot be compiled: too big', errorCode: 'bad_request' as const };
    // The scheduler's out-of-step message (stepId 0) with both choices' final outputs.
    await publishSteps([{ stepId: 0, outputs: [output('refused-0', [], 0, refusal), output('refused-1', [], 0, refusal)] }]);
    for (const id of ['refused-0', 'refused-1']) {
      expect(await deltas.finished(id)).toEqual([expect.objectContaining({ seq: 0, text: '', tokenIds: [], ...refusal })]);
    }
  });

  it('takes a prompt given as ids: checks it, primes the streams with it, echoes it', async () => {
    const prompt = [1, 403, 407, 261, 378];
    const reply = await client.call(Routes.tokenizerEncode, { text: '', promptTokenIds: prompt, maxTokens: 10, streams: [{ requestId: 'ids', deltasSubject, detokenize: {} }] });
    expect(reply).toMatchObject({ tokenIds: prompt, numTokens: 5 });
    const there = (await client.call(Routes.tokenizerEncode, { text: 'there', addSpecialTokens: false })).tokenIds;
    await publishSteps([{ stepId: 1, outputs: [output('ids', there, there.length, { finishReason: 'length' })] }]);
    // After a prompt, the first word keeps its space.
    expect((await deltas.finished('ids')).map((d) => d.text).join('')).toBe(' there');
    expect(await errorOf(Routes.tokenizerEncode, { text: '', promptTokenIds: [1, 512] })).toMatchObject({ code: ErrorCodes.badRequest, param: 'prompt' });
    expect((await errorOf(Routes.tokenizerEncode, { text: '', promptTokenIds: prompt, maxTokens: 508 })).code).toBe(ErrorCodes.contextLengthExceeded);
    // Without maxTokens an empty prompt may open streams (the caller refuses empty prompts itself).
    await expect(client.call(Routes.tokenizerEncode, { text: '', addSpecialTokens: false, streams: [{ requestId: 'empty', deltasSubject, detokenize: {} }] })).resolves.toMatchObject({ numTokens: 0 });
    client.emit(Routes.tokenizerClose.at(service.state.instanceId), { requestIds: ['empty'] });
  });

  it('drops the streams of requests that never ran when the api closes them', async () => {
    await client.call(Routes.tokenizerEncode, { text: 'hi', streams: [{ requestId: 'never-1', deltasSubject, detokenize: {} }, { requestId: 'never-2', deltasSubject, detokenize: {} }] });
    const active = async () => (await client.call(Routes.health.at('tokenizer'), {})).details?.['activeStreams'];
    await waitFor('both streams open', async () => (await active()) === 2);
    client.emit(Routes.tokenizerClose.at(service.state.instanceId), { requestIds: ['never-1', 'never-2', 'unknown'] });
    await waitFor('the streams to close', async () => (await active()) === 0);
    // A request id may not be reused while its stream is open, but may once it is closed.
    await expect(client.call(Routes.tokenizerEncode, { text: 'hi', streams: [{ requestId: 'never-1', deltasSubject, detokenize: {} }] })).resolves.toBeTruthy();
    const dup = await errorOf(Routes.tokenizerEncode, { text: 'hi', streams: [{ requestId: 'never-1', deltasSubject, detokenize: {} }] });
    expect(dup).toMatchObject({ code: ErrorCodes.badRequest, param: 'streams' });
  });
});
