import { ChatCompletionRequestDto } from './dto/chat-completion-request.dto.js';
import { CompletionRequestDto } from './dto/completion-request.dto.js';
import { MAX_BODY_NESTING, nestingExceeds, validateBody } from './dto/validate-body.js';
import { ChoiceState, StreamGapError } from './choice-state.js';
import { planChat, planCompletion, resolveMaxTokens, samplingForChoice } from './generation-plan.js';
import { generationFailure, toOpenAIError } from './openai-error.js';
import { ProtocolError } from '@deepinfer/contracts';
import { completionLogprobs, chatLogprobs } from './response-shapes.js';
import { expectBadRequest } from './test-support/expect-bad-request.js';

const badRequest = expectBadRequest;

describe('request bodies: nesting and unknown fields', () => {
  const nested = (depth: number): unknown => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = [value];
    return value;
  };

  it('measures nesting without recursion, at any depth', () => {
    expect(nestingExceeds({ a: nested(63) }, MAX_BODY_NESTING)).toBe(false);
    expect(nestingExceeds({ a: nested(64) }, MAX_BODY_NESTING)).toBe(true);
    expect(nestingExceeds(nested(200_000), MAX_BODY_NESTING)).toBe(true);
    expect(nestingExceeds('text', 1)).toBe(false);
  });

  it('answers 400 to a body nested deeper than the limit, wherever the nesting is', () => {
    expect(badRequest(() => validateBody(CompletionRequestDto, { prompt: 'x', extra: nested(5000) })).message).toMatch(/nested more than 64 levels/);
    badRequest(() => validateBody(ChatCompletionRequestDto, { messages: [{ role: 'user', content: nested(100) }] }));
    expect(validateBody(ChatCompletionRequestDto, { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] })).toBeInstanceOf(ChatCompletionRequestDto);
  });

  it('names unknown fields, top level and in nested DTOs, to a callback or as a 400', () => {
    const seen: string[][] = [];
    const body = { prompt: 'x', stream: true, stream_options: { include_usage: true, chunk_size: 4 }, metadata: { a: 1 }, top_k: 3 };
    expect(validateBody(CompletionRequestDto, body, { unknownFields: (paths) => seen.push(paths) })).toBeInstanceOf(CompletionRequestDto);
    expect(seen).toEqual([['stream_options.chunk_size', 'metadata']]);
    const error = badRequest(() => validateBody(CompletionRequestDto, body, { unknownFields: 'reject' }));
    expect(error.message).toBe('Unrecognized request arguments supplied: stream_options.chunk_size, metadata');
    expect(error.param).toBe('stream_options.chunk_size');
    // Declared fields, the inherited ones included, are never reported; without the option nothing is checked.
    seen.length = 0;
    validateBody(ChatCompletionRequestDto, { messages: [{ role: 'user', content: 'x' }], top_logprobs: 1, ignore_eos: true, model: 'm' }, { unknownFields: (paths) => seen.push(paths) });
    expect(seen).toEqual([]);
    expect(validateBody(CompletionRequestDto, body)).toBeInstanceOf(CompletionRequestDto);
  });
});

describe('request validation', () => {
  it.each([
    [{ prompt: 'x', max_tokens: -1 }, 'max_tokens'],
    [{ prompt: 'x', temperature: 3 }, 'temperature'],
    [{ prompt: 'x', top_p: 0 }, 'top_p'],
    [{ prompt: 'x', n: 'two' }, 'n'],
    [{ prompt: 5 }, 'prompt'],
    [{ prompt: [] }, 'prompt'],
    [{ prompt: [1, 'a'] }, 'prompt'],
    [{ prompt: 'x', logit_bias: { abc: 1 } }, 'logit_bias'],
    [{ prompt: 'x', logit_bias: { '5': 101 } }, 'logit_bias'],
    [{ prompt: 'x', stop: [''] }, 'stop'],
    [{ prompt: 'x', logprobs: 21 }, 'logprobs'],
    [{ prompt: 'x', stream_options: { include_usage: 'yes' } }, 'stream_options.include_usage'],
  ])('completions: %j → 400 naming %s', (body, param) => {
    expect(badRequest(() => validateBody(CompletionRequestDto, body)).param).toBe(param);
  });

  it('accepts every prompt form and vLLM extensions', () => {
    for (const prompt of ['a', ['a', 'b'], [1, 2], [[1], [2, 3]]]) {
      expect(validateBody(CompletionRequestDto, { prompt, top_k: 5, min_p: 0.1, repetition_penalty: 1.1, ignore_eos: true, stop_token_ids: [2] })).toBeInstanceOf(CompletionRequestDto);
    }
  });

  it('chat: messages required, top_logprobs needs logprobs', () => {
    expect(badRequest(() => validateBody(ChatCompletionRequestDto, { messages: [] })).param).toBe('messages');
    const dto = validateBody(ChatCompletionRequestDto, { messages: [{ role: 'user', content: 'hi' }], top_logprobs: 2 });
    expect(badRequest(() => planChat(dto)).param).toBe('top_logprobs');
  });

  it('rejects a non-object body', () => {
    badRequest(() => validateBody(CompletionRequestDto, [1]));
  });
});

describe('generation plan', () => {
  it('maps prompts, sampling and detokenization; seeds differ per choice', () => {
    const plan = planCompletion(validateBody(CompletionRequestDto, { prompt: [[1, 2], [3]], n: 3, seed: 7, stop: 'x', temperature: 0.5, logprobs: 2 }));
    expect(plan.prompts).toEqual([{ kind: 'tokens', tokenIds: [1, 2] }, { kind: 'tokens', tokenIds: [3] }]);
    expect(plan.detokenize).toEqual({ stop: ['x'] });
    expect([0, 1, 2].map((i) => samplingForChoice(plan, i, 10).seed)).toEqual([7, 8, 9]);
    expect(samplingForChoice(plan, 0, 10)).toEqual({ seed: 7, temperature: 0.5, maxTokens: 10, logprobs: 2 });
  });

  it('resolves max tokens: completions default 16, chat the rest of the context, never past it', () => {
    const completion = planCompletion(validateBody(CompletionRequestDto, { prompt: 'x' }));
    expect(resolveMaxTokens(completion, 10, 512)).toBe(16);
    expect(resolveMaxTokens(completion, 500, 512)).toBe(12);
    const chat = planChat(validateBody(ChatCompletionRequestDto, { messages: [{ role: 'user', content: 'x' }], max_tokens: 5, max_completion_tokens: 9 }));
    expect(resolveMaxTokens(chat, 10, 512)).toBe(9);
    const chatDefault = planChat(validateBody(ChatCompletionRequestDto, { messages: [{ role: 'user', content: 'x' }] }));
    expect(resolveMaxTokens(chatDefault, 10, 512)).toBe(502);
    expect(badRequest(() => resolveMaxTokens(chatDefault, 512, 512)).code).toBe('context_length_exceeded');
  });

  it('refuses min_tokens > max_tokens and a suffix', () => {
    badRequest(() => planCompletion(validateBody(CompletionRequestDto, { prompt: 'x', min_tokens: 5, max_tokens: 2 })));
    badRequest(() => planCompletion(validateBody(CompletionRequestDto, { prompt: 'x', suffix: 'y' })));
  });
});

describe('choice state', () => {
  it('accumulates deltas in order and fails on a gap', () => {
    const c = new ChoiceState('r', 0);
    c.apply({ requestId: 'r', seq: 0, text: 'Once', tokenIds: [403] });
    c.apply({ requestId: 'r', seq: 1, text: ' upon', tokenIds: [407], finishReason: 'length', usage: { numPromptTokens: 1, numCachedTokens: 0, numOutputTokens: 2 } });
    expect([c.text, c.tokenIds, c.finishReason, c.numOutputTokens]).toEqual(['Once upon', [403, 407], 'length', 2]);
    const g = new ChoiceState('g', 0);
    expect(() => g.apply({ requestId: 'g', seq: 1, text: '', tokenIds: [] })).toThrow(StreamGapError);
  });

  it('keeps an error’s protocol code, typed (a lost replica is unavailable: a 503, not a 500)', () => {
    const lost = new ChoiceState('l', 0);
    lost.fail('replica r1 was lost (its scheduler restarted) while this request ran; retry it', 'unavailable');
    expect([lost.finishReason, lost.errorCode]).toEqual(['error', 'unavailable']);
    expect(toOpenAIError(new ProtocolError(lost.errorCode!, lost.error!)).status).toBe(503);
    const streamed = new ChoiceState('s', 0);
    streamed.apply({ requestId: 's', seq: 0, text: '', tokenIds: [], finishReason: 'error', error: 'the engine failed', errorCode: 'internal' });
    expect(streamed.errorCode).toBe('internal');
    const own = new ChoiceState('o', 0);
    own.apply({ requestId: 'o', seq: 0, text: '', tokenIds: [], finishReason: 'error', error: 'no token' });
    expect(own.errorCode).toBeUndefined(); // the api answers 500 generation_failed
  });

  it('a failed choice is the error of its code: a refused grammar is a 400 naming the executor\'s reason, no code a 500', () => {
    const refused = new ChoiceState('g', 0);
    const reason = 'guided decoding: the grammar cannot be compiled: too big';
    refused.apply({ requestId: 'g', seq: 0, text: '', tokenIds: [], finishReason: 'error', error: reason, errorCode: 'bad_request' });
    expect(generationFailure(refused.error!, refused.errorCode).toBody()).toEqual({ error: { message: reason, type: 'invalid_request_error', param: null, code: 'bad_request' } });
    expect(generationFailure(refused.error!, refused.errorCode).status).toBe(400);
    expect(generationFailure('lost', 'unavailable')).toMatchObject({ status: 503, type: 'service_unavailable_error', retryAfterSeconds: 1 });
    expect(generationFailure('no token', undefined)).toMatchObject({ status: 500, type: 'server_error', code: 'generation_failed', message: 'no token' });
  });
});

describe('errors and shapes', () => {
  it('maps service error codes to HTTP statuses', () => {
    expect(toOpenAIError(new ProtocolError('context_length_exceeded', 'too long')).status).toBe(400);
    expect(toOpenAIError(new ProtocolError('overloaded', 'full'))).toMatchObject({ status: 429, retryAfterSeconds: 1 });
    expect(toOpenAIError(new ProtocolError('unavailable', 'gone'))).toMatchObject({ status: 503, retryAfterSeconds: 1 });
    expect(toOpenAIError(new Error('x')).status).toBe(500);
  });

  it('builds both logprobs shapes', () => {
    const items = [{ tokenId: 5, token: 'ab', logprob: -0.5, top: [{ tokenId: 5, token: 'ab', logprob: -0.5 }, { tokenId: 6, token: 'é', logprob: -1 }] }];
    expect(completionLogprobs(items, 3)).toEqual({ tokens: ['ab'], token_logprobs: [-0.5], top_logprobs: [{ ab: -0.5, é: -1 }], text_offset: [3] });
    expect(chatLogprobs(items).content[0]!.top_logprobs[1]).toEqual({ token: 'é', logprob: -1, bytes: [0xc3, 0xa9] });
  });
});
