import fs from 'node:fs';
import OpenAI from 'openai';
import { waitFor } from '@deepinfer/testing';
import { MODEL_NAME, withVllmParams } from './support/golden.js';
import { commandLineOf, startStack, type Stack } from './support/stack.js';

/**
 * Two data-parallel replicas on the CPU behind one api (`deepinfer serve --data-parallel-size 2`,
 * router kv): the api sees both, requests sharing a long prefix go to the replica that holds it
 * (prefix hits in each scheduler's /stats), and a replica killed under load — its executor, then
 * its scheduler — ends only its own streams, with an error within 5 s, while new requests go to
 * the other one at once; it rejoins when the launcher restarts it.
 */
interface ReplicaHealth {
  replicaId: string;
  status: string;
  numRunning: number;
  numRoutedTotal: number;
}
interface SchedulerStats {
  replicaId: string;
  scheduler: { prefixCache: { numQueryTokens: number; numHitTokens: number } } | null;
}
interface StreamOutcome {
  ended: 'done' | 'error';
  chunks: number;
  at: number;
  message?: string;
}

describe('scale-out: two replicas behind one api', () => {
  let stack: Stack;
  let client: OpenAI;
  const log: string[] = [];

  beforeAll(async () => {
    stack = await startStack(['--data-parallel-size', '2', '--device', 'cpu', '--router', 'kv', '--max-model-len', '512']);
    client = new OpenAI({ baseURL: `http://127.0.0.1:${stack.apiPort}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
    await waitFor('both replicas ready', async () => (await replicas()).filter((r) => r.status === 'ok').length === 2, 60000, 250);
  }, 120000);
  afterAll(async () => {
    if (stack) await stack.stop('SIGINT');
    // The outputs a reader of the closing note wants: the fault timings.
    if (log.length > 0) process.stdout.write(`\n--- scale-out e2e ---\n${log.join('\n')}\n`);
  });

  const replicas = async () => ((await (await fetch(`http://127.0.0.1:${stack.apiPort}/health`)).json()) as { details: { replicas: ReplicaHealth[] } }).details.replicas ?? [];
  const schedulerStats = async (i: number) => (await (await fetch(`http://127.0.0.1:${stack.adminPorts.scheduler + 100 * i}/stats`)).json()) as SchedulerStats;
  /** The pid of `service`'s process serving replica `replicaId` (its environment names it). */
  const pidOf = (service: 'executor' | 'scheduler', replicaId: string) =>
    stack.childPids().find((p) => commandLineOf(p).includes(`apps/${service}/dist/main.js`) && fs.readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`DEEPINFER_REPLICA_ID=${replicaId}`));
  const complete = (prompt: string) => client.completions.create({ model: MODEL_NAME, prompt, max_tokens: 4, temperature: 0 });

  it('reports both replicas in /health and /v1/models', async () => {
    expect((await replicas()).map((r) => [r.replicaId, r.status])).toEqual([['r0', 'ok'], ['r1', 'ok']]);
    const models = (await client.models.list()).data[0] as unknown as { replicas: { id: string; ready: boolean }[] };
    expect(models.replicas).toEqual([{ id: 'r0', ready: true, device: expect.any(String) }, { id: 'r1', ready: true, device: expect.any(String) }]);
    expect([(await schedulerStats(0)).replicaId, (await schedulerStats(1)).replicaId]).toEqual(['r0', 'r1']);
  });

  it('routes requests sharing a long prefix to the replica holding it: prefix hits on each scheduler', async () => {
    const before = await Promise.all([0, 1].map(schedulerStats));
    const groups = Array.from({ length: 6 }, (_, g) => `Story ${g}: ${'Once upon a time there was a little girl named Lily who loved to play in the park with her dog. '.repeat(10)}`);
    const perGroup = 4;
    // One conversation after another, each turn after the previous one: the replicas are idle at
    // every decision, so overlap alone decides (in parallel, on a loaded 2-core CI host, load
    // outweighed overlap often enough to make the hit rate flaky: 0.59–0.71 seen).
    for (const [g, prefix] of groups.entries()) {
      for (let i = 0; i < perGroup; i++) await complete(`${prefix} Then turn ${i} of ${g} came`);
    }
    const after = await Promise.all([0, 1].map(schedulerStats));
    const hits = [0, 1].map((i) => after[i]!.scheduler!.prefixCache.numHitTokens - before[i]!.scheduler!.prefixCache.numHitTokens);
    const queries = [0, 1].map((i) => after[i]!.scheduler!.prefixCache.numQueryTokens - before[i]!.scheduler!.prefixCache.numQueryTokens);
    const hitRate = (hits[0]! + hits[1]!) / (queries[0]! + queries[1]!);
    log.push(`prefix routing: 6 groups x 4 requests, hits per replica ${JSON.stringify(hits)} of ${JSON.stringify(queries)} prompt tokens, hit rate ${hitRate.toFixed(3)}`);
    // Both replicas worked (new conversations alternate: equal load, ties go round-robin), and
    // each served its groups from its cache: only a group's first request misses (3 of 4 hit:
    // ~0.7 of the tokens at most). Spread at random or round-robin, turn k finds its prefix on
    // its replica with probability 1 - 2^-(k-1): 2.1 of 3 turns, ~0.5.
    expect(hits[0]).toBeGreaterThan(0);
    expect(hits[1]).toBeGreaterThan(0);
    // 0.706 when all 18 follow-ups go by overlap; 0.667 / 0.627 with one / two that went by load
    // (seen now and then on a loaded host); random spreading gives ~0.5.
    expect(hitRate).toBeGreaterThan(0.6);
    const metrics = await (await fetch(`http://127.0.0.1:${stack.adminPorts.api}/metrics`)).text();
    log.push(`  router decisions: ${[...metrics.matchAll(/deepinfer_router_decisions_total\{[^}]*reason="(\w+)"[^}]*\} (\d+)/g)].map((m) => `${m[1]} ${m[2]}`).join(', ')}`);
    // Most follow-up turns went by overlap (a few may move on a loaded host: load outweighs overlap).
    expect(Number(/deepinfer_router_decisions_total\{[^}]*reason="kv"[^}]*\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(6 * (perGroup - 1) - 4);
  });

  const MAX_TOKENS = 480;
  /** Opens `n` long streams, returns how each one ended. */
  const openStreams = async (n: number) => {
    const streams = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        client.completions.create(withVllmParams({ model: MODEL_NAME, prompt: `The dragon ${i} flew over the hills and`, max_tokens: MAX_TOKENS, temperature: 0.8, stream: true }, { ignore_eos: true })),
      ),
    );
    return streams.map(async (stream): Promise<StreamOutcome> => {
      let chunks = 0;
      try {
        for await (const chunk of stream) {
          chunks++;
          const error = (chunk as unknown as { error?: { message?: string } }).error;
          if (error) return { ended: 'error', chunks, at: Date.now(), message: error.message };
        }
        return { ended: 'done', chunks, at: Date.now() };
      } catch (err) {
        return { ended: 'error', chunks, at: Date.now(), message: (err as Error).message };
      }
    });
  };

  /**
   * When the new requests go out: `at-once`, right after the kill (a dead scheduler's submit
   * subject has no responders, or swallows the request and the router tries the next replica
   * after 2 s); `after-detection`, once the first of the replica's streams has failed: a dead
   * executor is found by its scheduler's liveness check (a ping every 250 ms whose subject then
   * has no responders; ~1 s on a loaded host), and a request accepted by that replica before
   * then fails with the others (not retried elsewhere: docs/scale-out.md).
   */
  const killUnderLoad = async (service: 'executor' | 'scheduler', newRequests: 'at-once' | 'after-detection') => {
    await waitFor('both replicas ready', async () => (await replicas()).filter((r) => r.status === 'ok').length === 2, 60000, 250);
    // Both replicas take streams (least load spreads them); the kill comes while they run.
    const outcomes = await openStreams(8);
    await waitFor('streams running on both replicas', async () => (await replicas()).every((r) => r.numRunning > 0), 5000, 20);
    const pid = pidOf(service, 'r1');
    expect(pid).toBeDefined();
    const killedAt = Date.now();
    process.kill(pid!, 'SIGKILL');
    // New requests go to the other replica and succeed.
    if (newRequests === 'after-detection') await Promise.race(outcomes.map((o) => o.then((r) => (r.ended === 'error' ? r : new Promise(() => {})))));
    const sentAfterMs = Date.now() - killedAt;
    const during = await Promise.all(Array.from({ length: 4 }, (_, i) => complete(`Right after the crash ${i}`).then((r) => ({ ok: r.choices[0]!.text.length > 0, ms: Date.now() - killedAt }), (err: Error) => ({ ok: false, ms: Date.now() - killedAt, err: err.message }))));
    const results = await Promise.all(outcomes);
    const failed = results.filter((r) => r.ended === 'error');
    const done = results.filter((r) => r.ended === 'done');
    log.push(
      `kill ${service} of r1 under load (8 streams of ${MAX_TOKENS} tokens): ${failed.length} streams ended with an error after ${failed.map((r) => r.at - killedAt).join(', ')} ms ` +
        `(${failed[0]?.message ?? ''}); ${done.length} on r0 completed; 4 new requests sent ${sentAfterMs} ms after the kill (${newRequests}): ${during.map((d) => (d.ok ? `ok in ${d.ms} ms` : `FAILED (${JSON.stringify(d)})`)).join(', ')}`,
    );
    expect(failed.length).toBeGreaterThan(0);
    expect(done.length).toBeGreaterThan(0);
    expect(done.every((r) => r.chunks >= MAX_TOKENS)).toBe(true);
    for (const r of failed) expect(r.at - killedAt).toBeLessThan(5000);
    expect(during.every((d) => d.ok)).toBe(true);
    const rejoinStarted = Date.now();
    await waitFor('r1 back', async () => (await replicas()).filter((r) => r.status === 'ok').length === 2, 60000, 250);
    log.push(`  r1 rejoined ${Date.now() - rejoinStarted} ms after the streams ended (the launcher restarted its ${service})`);
  };

  it('kill a replica\'s executor under load: only its streams fail, within 5 s; new requests go to the other; it rejoins', async () => {
    await killUnderLoad('executor', 'after-detection');
  }, 90000);

  it('kill a replica\'s scheduler under load: the api drops it after its heartbeats stop and fails only its streams within 5 s; it rejoins', async () => {
    await killUnderLoad('scheduler', 'at-once');
    expect((await complete('After both faults')).choices[0]!.text.length).toBeGreaterThan(0);
  }, 90000);
});
