import type { KvCacheManager } from '../kv-cache-manager.js';
import { Request } from '../request.js';

/** A bare Request for block-manager tests (no scheduler): its tokens and its cache key. */
export function makeRequest(kv: KvCacheManager, requestId: string, tokenIds: readonly number[], extraKey = 'model@rev1'): Request {
  return new Request({
    requestId,
    promptTokenIds: tokenIds,
    samplingParams: { maxTokens: 1_000_000 },
    rootBlockHash: kv.hashRoot(extraKey),
    maxOutputTokens: 1_000_000,
    stopTokenIds: new Set(),
    executorSamplingParams: { minTokens: 0, minTokensBannedTokenIds: [] },
    arrivalTimeMs: 0,
  });
}

/** Admits `request` as the scheduler would: claim its cached prefix, allocate, mark computed. */
export function admit(kv: KvCacheManager, request: Request, numNewTokens?: number): boolean {
  const prefix = kv.findCachedPrefix(request);
  const count = numNewTokens ?? request.numTokens - prefix.numTokens;
  if (!kv.allocateSlots(request, count, prefix)) return false;
  request.numComputedTokens = prefix.numTokens + count;
  return true;
}
