import { Routes, type RequestOutput, type StepOutputsMessage } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import type { RunningService } from '@deepinfer/service-kit';
import { startNatsServer, type NatsServerHandle } from '@deepinfer/testing';
import { connectClient, DeltaCollector, goldenStory, startTokenizer } from './test-support/tokenizer-harness.js';

/**
 * Two tokenizer instances on one NATS: encode requests are shared through the queue group, and
 * each instance detokenizes only the streams it opened, from its own outputs subject.
 */
describe('two tokenizer instances', () => {
  const NUM_STEPS = 20;
  let nats: NatsServerHandle;
  let services: RunningService[];
  let client: MessageBus;

  beforeAll(async () => {
    nats = await startNatsServer();
    services = await Promise.all([startTokenizer(nats.url), startTokenizer(nats.url)]);
    client = await connectClient(nats.url);
  });
  afterAll(async () => {
    await client?.close();
    await Promise.all((services ?? []).map((s) => s.close()));
    await nats?.stop();
  });

  it('share encode requests, and each streams its own requests only, with nothing lost', async () => {
    const apiRoutes: string[] = [Routes.apiDeltas.at('api-1').subject, Routes.apiDeltas.at('api-2').subject];
    const collectors = await Promise.all(apiRoutes.map((s) => DeltaCollector.listen(client, s)));
    const ids = services.map((s) => s.state.instanceId);

    // Open streams until each instance holds at least 4 (the queue group picks at random).
    const owner = new Map<string, string>();
    const subjectOf = new Map<string, string>();
    for (let i = 0; i < 200 && !ids.every((id) => [...owner.values()].filter((o) => o === id).length >= 4); i++) {
      const requestId = `req-${i}`;
      const deltasSubject = apiRoutes[i % 2]!;
      const reply = await client.call(Routes.tokenizerEncode, { text: '', maxTokens: NUM_STEPS, streams: [{ requestId, deltasSubject, detokenize: {} }] });
      owner.set(requestId, reply.tokenizerInstanceId);
      subjectOf.set(requestId, deltasSubject);
    }
    const requestsOf = (id: string) => [...owner].filter(([, o]) => o === id).map(([r]) => r);
    expect(ids.map((id) => requestsOf(id).length >= 4)).toEqual([true, true]);

    // The scheduler's view: per step, one message per instance with that instance's requests;
    // one output of the other instance's is misrouted into each, and must be ignored.
    const { ids: story } = goldenStory();
    const output = (requestId: string, step: number): RequestOutput => ({
      requestId,
      newTokenIds: [story[step]!],
      numPromptTokens: 1,
      numCachedTokens: 0,
      numOutputTokens: step + 1,
      ...(step === NUM_STEPS - 1 ? { finishReason: 'length' as const } : {}),
    });
    for (let step = 0; step < NUM_STEPS; step++) {
      for (const [k, id] of ids.entries()) {
        const stranger = requestsOf(ids[1 - k]!)[0]!;
        const message: StepOutputsMessage = { stepId: step + 1, outputs: [...requestsOf(id).map((r) => output(r, step)), { ...output(stranger, step), finishReason: 'abort' }] };
        client.emit(Routes.tokenizerOutputs.at(id), message);
      }
    }
    await client.flush();

    const expected = (await client.call(Routes.tokenizerDecode, { tokenIds: [1, ...story.slice(0, NUM_STEPS)] })).text;
    for (const [requestId, subject] of subjectOf) {
      const collector = collectors[apiRoutes.indexOf(subject)]!;
      const deltas = await collector.finished(requestId);
      expect({ requestId, text: deltas.map((d) => d.text).join(''), seqs: deltas.map((d) => d.seq) }).toEqual({ requestId, text: expected, seqs: [...Array(NUM_STEPS).keys()] });
      // Never on the other api instance's subject.
      expect(collectors[1 - apiRoutes.indexOf(subject)]!.deltasOf(requestId)).toEqual([]);
    }
    // ONE DeltaBatch per api instance per step per tokenizer instance that streams to it.
    for (const [j, subject] of apiRoutes.entries()) {
      const numSending = ids.filter((id) => requestsOf(id).some((r) => subjectOf.get(r) === subject)).length;
      expect(collectors[j]!.batches).toHaveLength(NUM_STEPS * numSending);
    }
    // Each instance ignored (and counted) exactly the misrouted outputs.
    for (const service of services) {
      const metrics = await (await fetch(`${service.adminUrl}/metrics`)).text();
      expect(metrics).toContain(`deepinfer_tokenizer_unknown_outputs_total{service="tokenizer"} ${NUM_STEPS}`);
      expect(metrics).toContain('deepinfer_tokenizer_active_streams{service="tokenizer"} 0');
    }
  });
});
