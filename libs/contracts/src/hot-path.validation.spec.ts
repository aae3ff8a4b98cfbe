import { ErrorCodes, ProtocolError } from './protocol.js';
import { DeltaBatchSchema, SchedulerOutputSchema, StepOutputsSchema, StepResultSchema } from './hot-path.validation.js';
import { decodeMessage } from './validation.js';

const step = {
  stepId: 3,
  totalNumScheduledTokens: 5,
  finishedRequestIds: ['old'],
  preemptedRequestIds: [],
  newRequests: [{ requestId: 'a', promptTokenIds: [1, 2, 3, 4], outputTokenIds: [], blockIds: [7], numComputedTokens: 0, numScheduledTokens: 4, samplingParams: { minTokens: 0, minTokensBannedTokenIds: [2], temperature: 0 } }],
  cachedRequests: { requestIds: ['b'], newBlockIds: [[]], numComputedTokens: [9], numScheduledTokens: [1] },
};

const errorOf = (fn: () => unknown): ProtocolError => {
  try {
    fn();
  } catch (err) {
    return err as ProtocolError;
  }
  throw new Error('expected a throw');
};

describe('hot-path schemas', () => {
  it('accept well-formed messages and return them unchanged', () => {
    expect(SchedulerOutputSchema.validate(step)).toBe(step);
    for (const guided of [{ kind: 'json_object' }, { kind: 'json_schema', schema: '{"type":"integer"}', strict: true }, { kind: 'regex', pattern: 'a+' }, { kind: 'choice', choices: ['x', 'y'] }, { kind: 'structural_tag', tag: '{}' }]) {
      const withGuide = { ...step, newRequests: [{ ...step.newRequests[0], samplingParams: { ...step.newRequests[0]!.samplingParams, guided } }] };
      expect(SchedulerOutputSchema.validate(withGuide)).toBe(withGuide);
    }
    const result = { stepId: 3, sampled: [{ requestId: 'a', tokenId: 5, logprobs: { logprob: -0.1, topTokenIds: [5], topLogprobs: [-0.1] } }] };
    expect(decodeMessage(StepResultSchema, new TextEncoder().encode(JSON.stringify(result)))).toEqual(result);
    expect(StepOutputsSchema.validate({ stepId: 3, outputs: [{ requestId: 'a', newTokenIds: [5], numPromptTokens: 4, numCachedTokens: 0, numOutputTokens: 1, finishReason: 'length' }] })).toBeTruthy();
    expect(DeltaBatchSchema.validate({ deltas: [{ requestId: 'a', seq: 0, text: 'hi', tokenIds: [5] }] })).toBeTruthy();
    // A failure's protocol code, when present, is one of the codes.
    expect(DeltaBatchSchema.validate({ deltas: [{ requestId: 'a', seq: 0, text: '', tokenIds: [], finishReason: 'error', error: 'x', errorCode: 'unavailable' }] })).toBeTruthy();
    expect(() => DeltaBatchSchema.validate({ deltas: [{ requestId: 'a', seq: 0, text: '', tokenIds: [], finishReason: 'error', errorCode: 'oops' }] })).toThrow(/deltas\[0\]\.errorCode/);
  });

  it.each([
    ['a negative token id', { ...step, newRequests: [{ ...step.newRequests[0], promptTokenIds: [1, -2] }] }, 'newRequests[0].promptTokenIds[1]'],
    ['a missing sampling field', { ...step, newRequests: [{ ...step.newRequests[0], samplingParams: {} }] }, 'newRequests[0].samplingParams.minTokens'],
    ['ragged parallel arrays', { ...step, cachedRequests: { ...step.cachedRequests, numScheduledTokens: [] } }, 'cachedRequests'],
    ['a step id of 0', { ...step, stepId: 0 }, 'stepId'],
    ['an unknown guided kind', { ...step, newRequests: [{ ...step.newRequests[0], samplingParams: { minTokens: 0, minTokensBannedTokenIds: [], guided: { kind: 'grammar' } } }] }, 'newRequests[0].samplingParams.guided'],
    ['a guided schema that is not text', { ...step, newRequests: [{ ...step.newRequests[0], samplingParams: { minTokens: 0, minTokensBannedTokenIds: [], guided: { kind: 'json_schema', schema: {}, strict: true } } }] }, 'newRequests[0].samplingParams.guided'],
    ['an empty guided choice list', { ...step, newRequests: [{ ...step.newRequests[0], samplingParams: { minTokens: 0, minTokensBannedTokenIds: [], guided: { kind: 'choice', choices: [] } } }] }, 'newRequests[0].samplingParams.guided'],
  ])('reject %s, naming the path', (_label, bad, path) => {
    const err = errorOf(() => SchedulerOutputSchema.validate(bad));
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.code).toBe(ErrorCodes.badRequest);
    expect(err.param).toBe(path);
  });

  it('reject garbage of every kind without throwing anything but ProtocolError', () => {
    for (const garbage of [null, 1, 'x', [], { stepId: 'one' }, { deltas: [{ requestId: 'a', seq: 0, text: 5, tokenIds: [] }] }]) {
      for (const schema of [SchedulerOutputSchema, StepResultSchema, StepOutputsSchema, DeltaBatchSchema]) {
        expect(errorOf(() => schema.validate(garbage))).toBeInstanceOf(ProtocolError);
      }
    }
  });
});
