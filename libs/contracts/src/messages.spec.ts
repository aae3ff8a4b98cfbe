import { ErrorCodes, ProtocolError } from './protocol.js';
import { DeltaBatchMessage, StepOutputsMessage } from './messages/outputs.contract.js';
import { SubmitMessage } from './messages/scheduler.contract.js';
import { SchedulerOutput, StepResult } from './messages/step.contract.js';
import { decodeMessage } from './validation.js';

const step = {
  stepId: 3,
  totalNumScheduledTokens: 5,
  finishedRequestIds: ['old'],
  preemptedRequestIds: [],
  newRequests: [{ requestId: 'a', promptTokenIds: [1, 2, 3, 4], outputTokenIds: [], blockIds: [7], numComputedTokens: 0, numScheduledTokens: 4, samplingParams: { minTokens: 0, minTokensBannedTokenIds: [2], temperature: 0 } }],
  cachedRequests: { requestIds: ['b'], newBlockIds: [[]], numComputedTokens: [9], numScheduledTokens: [1] },
};
const sampling = (extra: object) => ({ ...step, newRequests: [{ ...step.newRequests[0], samplingParams: { minTokens: 0, minTokensBannedTokenIds: [], ...extra } }] });

const errorOf = (fn: () => unknown): ProtocolError => {
  try {
    fn();
  } catch (err) {
    return err as ProtocolError;
  }
  throw new Error('expected a throw');
};

describe('hot-path messages', () => {
  it('accept well-formed messages and return them unchanged (the same object)', () => {
    expect(SchedulerOutput.validate(step)).toBe(step);
    for (const guided of [{ kind: 'json_object' }, { kind: 'json_schema', schema: '{"type":"integer"}', strict: true }, { kind: 'regex', pattern: 'a+' }, { kind: 'choice', choices: ['x', 'y'] }, { kind: 'structural_tag', tag: '{}' }]) {
      const withGuide = sampling({ guided });
      expect(SchedulerOutput.validate(withGuide)).toBe(withGuide);
    }
    const result = { stepId: 3, sampled: [{ requestId: 'a', tokenId: 5, logprobs: { logprob: -0.1, topTokenIds: [5], topLogprobs: [-0.1] } }] };
    expect(decodeMessage(StepResult, new TextEncoder().encode(JSON.stringify(result)))).toEqual(result);
    expect(StepOutputsMessage.validate({ stepId: 3, outputs: [{ requestId: 'a', newTokenIds: [5], numPromptTokens: 4, numCachedTokens: 0, numOutputTokens: 1, finishReason: 'length' }] })).toBeTruthy();
    expect(DeltaBatchMessage.validate({ deltas: [{ requestId: 'a', seq: 0, text: 'hi', tokenIds: [5] }] })).toBeTruthy();
    // A failure's protocol code, when present, is one of the codes.
    expect(DeltaBatchMessage.validate({ deltas: [{ requestId: 'a', seq: 0, text: '', tokenIds: [], finishReason: 'error', error: 'x', errorCode: 'unavailable' }] })).toBeTruthy();
    expect(errorOf(() => DeltaBatchMessage.validate({ deltas: [{ requestId: 'a', seq: 0, text: '', tokenIds: [], finishReason: 'error', errorCode: 'oops' }] })).param).toBe('deltas[0].errorCode');
    expect(StepOutputsMessage.validate({ stepId: 0, outputs: [{ requestId: 'a', newTokenIds: [], numPromptTokens: 4, numCachedTokens: 0, numOutputTokens: 0, finishReason: 'error', error: 'x', errorCode: 'bad_request' }] })).toBeTruthy();
    expect(errorOf(() => StepOutputsMessage.validate({ stepId: 0, outputs: [{ requestId: 'a', newTokenIds: [], numPromptTokens: 4, numCachedTokens: 0, numOutputTokens: 0, finishReason: 'error', errorCode: 'oops' }] })).param).toBe('outputs[0].errorCode');
  });

  it('keep unknown fields on the hot path (no copy, no walk), as the hand-written validators did', () => {
    const withExtra = { ...step, futureField: { x: 1 } };
    expect(SchedulerOutput.validate(withExtra)).toHaveProperty('futureField', { x: 1 });
  });

  it.each([
    ['a negative token id', { ...step, newRequests: [{ ...step.newRequests[0], promptTokenIds: [1, -2] }] }, 'newRequests[0].promptTokenIds[1]', 'expected integer to be greater or equal to 0'],
    ['a missing sampling field', { ...step, newRequests: [{ ...step.newRequests[0], samplingParams: {} }] }, 'newRequests[0].samplingParams.minTokens', 'expected required property'],
    ['ragged parallel arrays', { ...step, cachedRequests: { ...step.cachedRequests, numScheduledTokens: [] } }, 'cachedRequests', 'parallel arrays must have the same length'],
    ['a step id of 0', { ...step, stepId: 0 }, 'stepId', 'expected integer to be greater or equal to 1'],
    ['an unknown guided kind', sampling({ guided: { kind: 'grammar' } }), 'newRequests[0].samplingParams.guided.kind', 'must be one of json_object, json_schema, regex, choice, structural_tag'],
    ['a guided schema that is not text', sampling({ guided: { kind: 'json_schema', schema: {}, strict: true } }), 'newRequests[0].samplingParams.guided.schema', 'expected string'],
    ['an empty guided choice list', sampling({ guided: { kind: 'choice', choices: [] } }), 'newRequests[0].samplingParams.guided.choices', 'expected array length to be greater or equal to 1'],
    ['a temperature that is text', sampling({ temperature: 'hot' }), 'newRequests[0].samplingParams.temperature', 'expected number'],
  ])('reject %s, naming the path', (_label, bad, path, problem) => {
    const err = errorOf(() => SchedulerOutput.validate(bad));
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.code).toBe(ErrorCodes.badRequest);
    expect(err.param).toBe(path);
    expect(err.message).toContain(`invalid SchedulerOutput: ${path} (`);
    expect(err.message).toContain(problem);
  });

  it('reject garbage of every kind without throwing anything but ProtocolError', () => {
    for (const garbage of [null, 1, 'x', [], { stepId: 'one' }, { deltas: [{ requestId: 'a', seq: 0, text: 5, tokenIds: [] }] }]) {
      for (const message of [SchedulerOutput, StepResult, StepOutputsMessage, DeltaBatchMessage]) {
        expect(errorOf(() => message.validate(garbage))).toBeInstanceOf(ProtocolError);
      }
    }
  });
});

describe('other messages', () => {
  const submit = { requestId: 'r', promptTokenIds: [1], samplingParams: { maxTokens: 4, seed: null }, tokenizerInstanceId: 't' };

  it('strip unknown fields, nested ones too (forward compatibility, as class-validator did)', () => {
    const got = SubmitMessage.validate({ ...submit, newField: 1, samplingParams: { ...submit.samplingParams, newKnob: 2 } });
    expect(got).not.toHaveProperty('newField');
    expect(got.samplingParams).not.toHaveProperty('newKnob');
    expect(got.samplingParams.maxTokens).toBe(4);
  });

  it('name the nested field that is wrong', () => {
    expect(errorOf(() => SubmitMessage.validate({ ...submit, samplingParams: { maxTokens: 0 } })).param).toBe('samplingParams.maxTokens');
    expect(errorOf(() => SubmitMessage.validate({ ...submit, promptTokenIds: [] })).param).toBe('promptTokenIds');
    expect(errorOf(() => SubmitMessage.validate({ ...submit, samplingParams: { maxTokens: 1, topP: 1.5 } })).message).toContain('samplingParams.topP (1.5): expected number to be less or equal to 1');
  });
});
