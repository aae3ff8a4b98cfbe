// @deepinfer/contracts/testing: test support, kept out of the public index (the
// module-boundaries lint rule allows this entry point only in tests, test-support and bench).
//
// Messages as the services send them: hot-path ones the size of a full step (256 sequences),
// the corpus of the validator benchmark, and one of every message of every route (`messageCorpus`),
// which contracts' specs check every validator accepts. Deterministic, so runs compare.
import type { RouteName } from './routes.js';

const N = 256;
const NEW = 16;
const ids = Array.from({ length: N }, (_, i) => `cmpl-${i.toString(16).padStart(8, '0')}-0`);

export function schedulerOutput256(): Record<string, unknown> {
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

export function stepResult256(): Record<string, unknown> {
  return { stepId: 1234, sampled: ids.map((requestId, i) => ({ requestId, tokenId: (i * 7) % 512 })), executeTimeMs: 3.2 };
}

export function stepOutputs256(): Record<string, unknown> {
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

export function deltaBatch256(): Record<string, unknown> {
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

const registration = {
  executorId: 'executor-1a2b',
  epoch: '7f0c1e52-0d4c-4a7e-9d7b-3f7a1d2c9e10',
  numBlocks: 2048,
  blockSize: 16,
  maxModelLen: 512,
  maxNumBatchedTokens: 2048,
  model: { name: 'stories260k', revision: 'rev-1', vocabSize: 512, eosTokenIds: [2], bosTokenId: 1, dtype: 'float32' },
  device: 'cpu',
  stepSubject: 'deepinfer.v1.executor.executor-1a2b.step',
};
const sampling = { maxTokens: 16, minTokens: 0, stopTokenIds: [13], temperature: 0.7, topP: 0.9, topK: -1, minP: 0, seed: 42, presencePenalty: 0.1, frequencyPenalty: 0.2, repetitionPenalty: 1.1, logitBias: { '5': -100 }, logprobs: 2, guided: { kind: 'choice', choices: ['yes', 'no'] } };
const health = { service: 'scheduler', instanceId: 'scheduler-1a2b', status: 'ok', uptimeSeconds: 1.5, version: '0.1.0', details: { maxNumSeqs: 64 } };
const stream = { requestId: 'cmpl-1-0', deltasSubject: 'deepinfer.v1.api.api-1a2b.deltas', detokenize: { stop: ['\n\n'], includeStopStrInOutput: false, skipSpecialTokens: true } };
const encodeReply = { tokenIds: [1, 403, 407], numTokens: 3, maxModelLen: 512, tokenizerInstanceId: 'tokenizer-1a2b' };

/** One or more valid messages of every route, request (and reply) as the services send them. */
export const messageCorpus: Record<RouteName, { request?: readonly unknown[]; reply?: readonly unknown[]; message?: readonly unknown[] }> = {
  health: { request: [{}], reply: [health, { ...health, status: 'starting', details: undefined }] },
  healthAll: { request: [{}], reply: [health] },
  stats: { request: [{}], reply: [{ service: 'executor', instanceId: 'executor-1a2b', stats: { numStepsTotal: 3, recent: [1, 2] } }] },
  tokenizerEncode: {
    request: [{ text: 'Once upon a time' }, { text: '', addSpecialTokens: false, promptTokenIds: [1, 2], maxTokens: 16, streams: [stream] }],
    reply: [encodeReply],
  },
  tokenizerChat: {
    request: [{ messages: [{ role: 'user', content: 'hi' }], addGenerationPrompt: true, tools: [{ type: 'function' }], chatTemplate: '{{ x }}', templateKwargs: { a: 1 }, maxTokens: 5, streams: [stream] }],
    reply: [{ ...encodeReply, prompt: '<s>[INST] hi [/INST]' }],
  },
  tokenizerDecode: { request: [{ tokenIds: [1, 403], skipSpecialTokens: false }], reply: [{ text: ' Once' }] },
  tokenizerInfo: {
    request: [{}],
    reply: [
      { vocabSize: 512, bosTokenId: 1, eosTokenIds: [2], hasChatTemplate: true, chatTemplate: '{{ x }}', maxModelLen: 512, specialTokens: [{ id: 1, text: '<s>' }] },
      { vocabSize: 512, bosTokenId: null, eosTokenIds: [], hasChatTemplate: false, chatTemplate: null, maxModelLen: 512, specialTokens: [] },
    ],
  },
  tokenizerOutputs: { message: [stepOutputs256(), { stepId: 0, outputs: [{ requestId: 'a', newTokenIds: [], numPromptTokens: 3, numCachedTokens: 0, numOutputTokens: 0, finishReason: 'error', error: 'executor lost', logprobs: [{ logprob: -0.5, topTokenIds: [4], topLogprobs: [-0.5] }], stopTokenId: 2 }] }, { stepId: 0, outputs: [{ requestId: 'b', newTokenIds: [], numPromptTokens: 3, numCachedTokens: 0, numOutputTokens: 0, finishReason: 'error', error: 'guided decoding: the grammar cannot be compiled: x', errorCode: 'bad_request' }] }] },
  tokenizerClose: { message: [{ requestIds: ['cmpl-1-0', 'cmpl-1-1'] }] },
  schedulerSubmit: { request: [{ requestId: 'cmpl-1-0', promptTokenIds: [1, 403], samplingParams: sampling, tokenizerInstanceId: 'tokenizer-1a2b', cacheSalt: 'tenant' }], reply: [{ accepted: true, schedulerInstanceId: 'scheduler-1a2b', replicaId: 'r0' }] },
  schedulerAbort: { message: [{ requestIds: ['cmpl-1-0'], reason: 'stop' }] },
  replicaSubmit: { request: [{ requestId: 'cmpl-1-0', promptTokenIds: [1], samplingParams: { maxTokens: 1 }, tokenizerInstanceId: 'tokenizer-1a2b' }], reply: [{ accepted: true, schedulerInstanceId: 'scheduler-1a2b', replicaId: 'r1' }] },
  replicaRegister: { request: [registration], reply: [{ schedulerInstanceId: 'scheduler-1a2b', newSession: true }] },
  replicaStatus: {
    message: [
      { replicaId: 'r0', schedulerInstanceId: 'scheduler-1a2b', hasExecutor: false, draining: false, numRunning: 0, numWaiting: 0, numFreeBlocks: 0, numBlocks: 0, maxNumSeqs: 64, kvEventSeq: 0 },
      { replicaId: 'r0', schedulerInstanceId: 'scheduler-1a2b', hasExecutor: true, draining: false, executorId: 'executor-1a2b', device: 'cpu', modelName: 'stories260k', modelCacheKey: 'k', blockSize: 16, numRunning: 3, numWaiting: 1, numFreeBlocks: 100, numBlocks: 2048, maxNumSeqs: 64, kvEventSeq: 7, schedulerAdminPort: 8002 },
    ],
  },
  replicaKvEvents: { message: [{ replicaId: 'r0', schedulerInstanceId: 'scheduler-1a2b', seq: 1, cleared: true, stored: ['AAAAAAAAAAAAAAAAAAAAAA'], removed: [] }] },
  replicaKvResync: { message: [{ routerInstanceId: 'api-1a2b' }] },
  executorStep: {
    request: [schedulerOutput256(), { ...schedulerOutput256(), newRequests: [{ ...(schedulerOutput256()['newRequests'] as object[])[0], samplingParams: { ...sampling, minTokensBannedTokenIds: [2] } }] }],
    reply: [stepResult256(), { stepId: 3, sampled: [], error: 'engine failed' }, { stepId: 3, sampled: [{ requestId: 'a', tokenId: 5, logprobs: { logprob: -0.1, topTokenIds: [5], topLogprobs: [-0.1] } }] }],
  },
  executorPing: { request: [{}], reply: [{ executorId: 'executor-1a2b' }] },
  executorPrepareGuide: { request: [{ guided: { kind: 'json_schema', schema: '{"type":"string","minLength":3}', strict: true } }, { guided: { kind: 'regex', pattern: '[a-z]+' } }], reply: [{ ok: true }] },
  apiDeltas: {
    message: [
      deltaBatch256(),
      { deltas: [{ requestId: 'a', seq: 3, text: '', tokenIds: [], finishReason: 'error', error: 'lost', errorCode: 'unavailable', stopReason: 2, logprobs: [{ tokenId: 5, token: ' a', logprob: -0.2, top: [{ tokenId: 5, token: ' a', logprob: -0.2 }] }] }] },
    ],
  },
};
