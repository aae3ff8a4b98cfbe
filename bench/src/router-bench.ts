import os from 'node:os';
import type { ReplicaStatusMessage } from '@deepinfer/contracts';
import { KvRouter } from '@deepinfer/kv-router';
import { BlockHasher, prefixBlockHashes, rootExtraKey } from '@deepinfer/scheduler-core';
import { markdownTable, percentile } from './report-table.js';

/**
 * The KV-aware router's cost per request (libs/kv-router, in process, no NATS): `--replicas` (16)
 * replicas whose prefix caches hold `--blocks` (100 000) block hashes in all, indexed from the
 * KV events they would publish; then `--requests` routings of prompts of `--prompt-tokens` (2048),
 * half sharing a cached system prompt of `--shared-tokens` (1024) with a fresh tail, half cold.
 * Reported: µs per route() (hashing the prompt's blocks with the scheduler's SHA-256 included,
 * and without: the index walk and the scoring alone), and the index's heap.
 *   node bench/dist/router-bench.js [--replicas 16] [--blocks 100000] [--requests 20000]
 */
const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const num = (k: string, d: number) => Number(args.get(k) ?? d);
const numReplicas = num('replicas', 16);
const numBlocks = num('blocks', 100_000);
const numRequests = num('requests', 20_000);
const promptTokens = num('prompt-tokens', 2048);
const sharedTokens = num('shared-tokens', 1024);
const BLOCK = 16;
const MODEL_KEY = 'bench-model-rev';

let seed = 12345;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const tokens = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 128000));

const router = new KvRouter({ policy: 'kv' });
const status = (i: number): ReplicaStatusMessage => ({
  replicaId: `r${i}`, schedulerInstanceId: `s${i}`, hasExecutor: true, draining: false, modelCacheKey: MODEL_KEY, blockSize: BLOCK,
  numRunning: 8, numWaiting: 0, numFreeBlocks: 20000 + i, numBlocks: 30000, maxNumSeqs: 256, kvEventSeq: 0,
});
for (let i = 0; i < numReplicas; i++) router.onStatus(status(i));

// Fill the index: 32 system prompts cached on 4 replicas each, the rest conversations spread out.
const hasher = new BlockHasher(BLOCK);
const root = hasher.hashRoot(rootExtraKey(MODEL_KEY, undefined));
const systemPrompts = Array.from({ length: 32 }, () => tokens(sharedTokens));
const seqs = new Array<number>(numReplicas).fill(0);
let indexed = 0;
const heapBefore = process.memoryUsage().heapUsed;
const store = (replica: number, hashes: string[]) => {
  router.onKvEvents({ replicaId: `r${replica}`, schedulerInstanceId: `s${replica}`, seq: ++seqs[replica]!, stored: hashes, removed: [] });
  indexed += hashes.length;
};
systemPrompts.forEach((p, k) => {
  const hashes = prefixBlockHashes(hasher, root, p, p.length / BLOCK);
  for (let r = 0; r < 4; r++) store((k * 4 + r) % numReplicas, hashes);
});
while (indexed < numBlocks) {
  const p = tokens(promptTokens);
  store(Math.floor(rand() * numReplicas), prefixBlockHashes(hasher, root, p, Math.min(p.length / BLOCK, numBlocks - indexed)));
}
const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;

const prompts = Array.from({ length: 512 }, (_, i) => (i % 2 === 0 ? [...systemPrompts[i % 32]!, ...tokens(promptTokens - sharedTokens)] : tokens(promptTokens)));
const timeRoutes = (n: number) => {
  const us: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    router.route({ tokenIds: prompts[i % prompts.length]! });
    us.push((performance.now() - t) * 1000);
    if (i % 64 === 0) for (let r = 0; r < numReplicas; r++) router.onStatus(status(r)); // statuses keep pending load bounded
  }
  return us;
};
timeRoutes(2000); // warm-up
const withHashing = timeRoutes(numRequests);
// The index walk and scoring alone: hashes precomputed (what the router does after hashing).
const hashed = prompts.map((p) => prefixBlockHashes(hasher, root, p, Math.floor((p.length - 1) / BLOCK)));
const out = new Int32Array(32);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const index = (router as any).index as { overlaps(h: readonly string[], o: Int32Array): void };
const walkUs: number[] = [];
for (let i = 0; i < numRequests; i++) {
  const t = performance.now();
  index.overlaps(hashed[i % hashed.length]!, out);
  walkUs.push((performance.now() - t) * 1000);
}
const hashUs: number[] = [];
for (let i = 0; i < 2000; i++) {
  const p = prompts[i % prompts.length]!;
  const t = performance.now();
  prefixBlockHashes(hasher, root, p, Math.floor((p.length - 1) / BLOCK));
  hashUs.push((performance.now() - t) * 1000);
}
const row = (what: string, v: number[]) => [what, percentile(v, 0.5).toFixed(1), percentile(v, 0.9).toFixed(1), percentile(v, 0.99).toFixed(1)];
process.stdout.write(
  `router cost: ${numReplicas} replicas, ${router.numIndexedBlocks} distinct cached blocks indexed (${indexed} replica-blocks, ${heapMiB.toFixed(0)} MiB heap), ` +
    `prompts of ${promptTokens} tokens (${Math.floor((promptTokens - 1) / BLOCK)} blocks; half share a ${sharedTokens}-token system prompt), ${numRequests} routes; ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}\n\n` +
    markdownTable(['µs per request', 'p50', 'p90', 'p99'], [
      row('route(): hash the prompt + index walk + score 16 replicas', withHashing),
      row('  of which hashing the prompt (SHA-256 per block)', hashUs),
      row('  index walk alone (one Map lookup per block)', walkUs),
    ]) + '\n',
);
