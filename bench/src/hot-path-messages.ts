/**
 * Hot-path messages the size of a full step (256 sequences), as the services send them: the
 * corpus of the validator benchmark. Deterministic (no randomness), so runs compare.
 */
const N = 256;
const NEW = 16;
const ids = Array.from({ length: N }, (_, i) => `cmpl-${i.toString(16).padStart(8, '0')}-0`);

export function schedulerOutput256(): object {
  return {
    stepId: 1234,
    totalNumScheduledTokens: NEW * 128 + (N - NEW),
    finishedRequestIds: ['cmpl-done-0'],
    preemptedRequestIds: [],
    newRequests: ids.slice(0, NEW).map((requestId, i) => ({
      requestId,
      promptTokenIds: Array.from({ length: 128 }, (_, t) => (t * 31 + i) % 512),
      outputTokenIds: [],
      samplingParams: { minTokens: 0, minTokensBannedTokenIds: [2], temperature: 0.7, topP: 0.9, seed: i },
      blockIds: Array.from({ length: 8 }, (_, b) => i * 8 + b),
      numComputedTokens: 0,
      numScheduledTokens: 128,
    })),
    cachedRequests: {
      requestIds: ids.slice(NEW),
      newBlockIds: ids.slice(NEW).map((_, i) => (i % 16 === 0 ? [1000 + i] : [])),
      numComputedTokens: ids.slice(NEW).map((_, i) => 100 + i),
      numScheduledTokens: ids.slice(NEW).map(() => 1),
    },
  };
}

export function stepResult256(): object {
  return { stepId: 1234, sampled: ids.map((requestId, i) => ({ requestId, tokenId: (i * 7) % 512 })), executeTimeMs: 3.2 };
}

export function stepOutputs256(): object {
  return {
    stepId: 1234,
    outputs: ids.map((requestId, i) => ({
      requestId,
      newTokenIds: [(i * 7) % 512],
      numPromptTokens: 128,
      numCachedTokens: 64,
      numOutputTokens: 10 + i,
      ...(i % 64 === 0 ? { finishReason: 'length', metrics: { arrivalTimeMs: 1, firstScheduledTimeMs: 2, firstTokenTimeMs: 3, finishedTimeMs: 4, queueTimeMs: 1, prefillTimeMs: 1, decodeTimeMs: 1, numPreemptions: 0 } } : {}),
    })),
  };
}

export function deltaBatch256(): object {
  return {
    deltas: ids.map((requestId, i) => ({
      requestId,
      seq: 10 + i,
      text: ' word',
      tokenIds: [(i * 7) % 512],
      ...(i % 64 === 0 ? { finishReason: 'length', usage: { numPromptTokens: 128, numCachedTokens: 64, numOutputTokens: 138 } } : {}),
    })),
  };
}
