import { KvCacheManager } from './kv-cache-manager.js';
import type { Request } from './request.js';
import { checkKvInvariants } from './test-support/check-kv-invariants.js';
import { EMPTY_CONTEXT_FINGERPRINT, nextFingerprint } from './stand-in/context-fingerprint.js';
import { makeRequest } from './test-support/make-request.js';
import { SeededRandom } from './test-support/seeded-random.js';

const BLOCK_SIZE = 4;
const NUM_BLOCKS = 48;
const VOCAB = 6; // a small vocabulary makes equal blocks after different prefixes common

/**
 * Thousands of random add / grow / fork-by-prefix / finish / abort / preempt / evict / reset
 * operations against the block manager, checking its invariants after each, and checking every
 * prefix-cache hit against a shadow KV cache (the context fingerprint last written to each slot).
 */
function runRandomOperations(seed: number, numOperations: number): Record<string, number> {
  const random = new SeededRandom(seed);
  const kv = new KvCacheManager({ numBlocks: NUM_BLOCKS, blockSize: BLOCK_SIZE, enablePrefixCaching: true });
  const shadow = new Uint32Array(NUM_BLOCKS * BLOCK_SIZE);
  const sharedPrefixes = [random.tokens(24, VOCAB), random.tokens(24, VOCAB), random.tokens(12, VOCAB)];
  const live: Request[] = [];
  const preempted: Request[] = [];
  const counts: Record<string, number> = {};
  let nextId = 0;
  const count = (name: string) => (counts[name] = (counts[name] ?? 0) + 1);

  const fingerprints = (request: Request, end: number) => {
    const values: number[] = [];
    let previous = EMPTY_CONTEXT_FINGERPRINT;
    for (let p = 0; p < end; p++) values.push((previous = nextFingerprint(previous, request.tokenIds[p], p)));
    return values;
  };
  const slotOf = (request: Request, position: number) =>
    kv.blockIdsOf(request.requestId)[Math.floor(position / BLOCK_SIZE)] * BLOCK_SIZE + (position % BLOCK_SIZE);
  /** Marks [numComputed, numComputed + n) computed and writes the shadow KV, after checking reads. */
  const compute = (request: Request, numNewTokens: number) => {
    const end = request.numComputedTokens + numNewTokens;
    const values = fingerprints(request, end);
    for (let p = request.numComputedTokens; p < end; p++) shadow[slotOf(request, p)] = values[p];
    for (let p = 0; p < end; p++) {
      if (shadow[slotOf(request, p)] !== values[p]) throw new Error(`seed ${seed}: ${request.requestId} reads wrong KV at ${p}`);
    }
    request.numComputedTokens = end;
  };
  const admit = (request: Request): boolean => {
    const prefix = kv.findCachedPrefix(request);
    if (prefix.numTokens > 0) count('hit');
    const remaining = request.numTokens - prefix.numTokens;
    const numNewTokens = random.next() < 0.5 ? remaining : random.int(1, remaining);
    if (!kv.allocateSlots(request, numNewTokens, prefix)) {
      count('admit-refused');
      return false;
    }
    request.numComputedTokens = prefix.numTokens;
    compute(request, numNewTokens);
    live.push(request);
    return true;
  };
  const removeLive = (request: Request) => live.splice(live.indexOf(request), 1);

  for (let op = 0; op < numOperations; op++) {
    const roll = random.next();
    if (roll < 0.2 || live.length === 0) {
      count('add');
      const shared = random.pick(sharedPrefixes);
      const tokens = [...shared.slice(0, random.int(0, shared.length)), ...random.tokens(random.int(1, 12), VOCAB)];
      admit(makeRequest(kv, `r${nextId++}`, tokens, random.next() < 0.1 ? 'salted' : 'model'));
    } else if (roll < 0.3) {
      count('fork');
      const parent = random.pick(live);
      const tokens = [...parent.tokenIds.slice(0, random.int(1, parent.numTokens)), ...random.tokens(random.int(1, 6), VOCAB)];
      admit(makeRequest(kv, `r${nextId++}`, tokens));
    } else if (roll < 0.65) {
      count('grow');
      const request = random.pick(live);
      if (request.numComputedTokens === request.numTokens) request.tokenIds.push(random.int(0, VOCAB - 1)); // sampled
      const remaining = request.numTokens - request.numComputedTokens;
      const numNewTokens = random.int(1, remaining);
      if (kv.allocateSlots(request, numNewTokens)) compute(request, numNewTokens);
      else count('grow-refused');
    } else if (roll < 0.78) {
      count('finish');
      const request = random.pick(live);
      kv.free(request);
      removeLive(request);
    } else if (roll < 0.83) {
      count('abort');
      const request = random.pick(live);
      kv.free(request);
      removeLive(request);
    } else if (roll < 0.9) {
      count('preempt');
      const request = random.pick(live);
      kv.free(request);
      request.numComputedTokens = 0;
      removeLive(request);
      preempted.push(request);
    } else if (roll < 0.96) {
      if (preempted.length > 0) {
        count('resume');
        const request = preempted.shift() as Request;
        if (!admit(request)) preempted.unshift(request);
      }
    } else if (roll < 0.995) {
      count('evict-pressure');
      admit(makeRequest(kv, `r${nextId++}`, random.tokens(random.int(8, 40), VOCAB)));
    } else {
      count(kv.resetPrefixCache() ? 'reset' : 'reset-refused');
    }
    checkKvInvariants(kv);
  }
  for (const request of live) kv.free(request);
  checkKvInvariants(kv);
  expect(kv.pool.numUsedBlocks).toBe(0);
  expect(kv.pool.numFreeBlocks).toBe(NUM_BLOCKS);
  return counts;
}

describe('KvCacheManager under random operations', () => {
  it.each([1, 2, 3, 4])('keeps its invariants and serves only correct hits (seed %i)', (seed) => {
    const counts = runRandomOperations(seed, 4000);
    // The mix exercised what it should: hits, evictions under pressure, refusals.
    expect(counts.hit).toBeGreaterThan(100);
    expect(counts['admit-refused'] ?? 0).toBeGreaterThan(0);
    expect(counts.fork).toBeGreaterThan(100);
    expect(counts.resume).toBeGreaterThan(50);
  });
});
