import { ErrorCodes, ProtocolError } from './protocol.js';
import type { DeltaBatchMessage, StepOutputsMessage } from './messages/outputs.contract.js';
import type { KvEventsMessage } from './messages/replica.contract.js';
import type { SchedulerOutput, StepResult } from './messages/step.contract.js';
import { guidedDecodingProblem } from './messages/sampling.contract.js';

/**
 * A hand-written validator for a hot-path message. class-validator walks every nested object
 * through reflection (milliseconds for a step of 512 sequences); these check shapes and types
 * in one pass, throw ProtocolError(bad_request) naming the path, and return the same object.
 */
export interface MessageSchema<T> {
  readonly name: string;
  validate(plain: unknown): T;
}

class Checker {
  constructor(private readonly message: string) {}

  fail(path: string, what: string, value: unknown): never {
    const shown = JSON.stringify(value)?.slice(0, 40) ?? typeof value;
    throw new ProtocolError(ErrorCodes.badRequest, `invalid ${this.message}: ${path} (${shown}): ${what}`, path);
  }
  object(v: unknown, path: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'must be an object', v);
    return v as Record<string, unknown>;
  }
  array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'must be an array', v);
    return v;
  }
  int(v: unknown, path: string, min = 0): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(path, `must be an integer ≥ ${min}`, v);
    return v;
  }
  number(v: unknown, path: string): number {
    if (typeof v !== 'number' || Number.isNaN(v)) this.fail(path, 'must be a number', v);
    return v;
  }
  string(v: unknown, path: string): string {
    if (typeof v !== 'string' || v.length === 0) this.fail(path, 'must be a non-empty string', v);
    return v;
  }
  intArray(v: unknown, path: string): number[] {
    const a = this.array(v, path);
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) this.fail(`${path}[${i}]`, 'must be an integer ≥ 0', x);
    }
    return a as number[];
  }
  stringArray(v: unknown, path: string): string[] {
    const a = this.array(v, path);
    for (let i = 0; i < a.length; i++) this.string(a[i], `${path}[${i}]`);
    return a as string[];
  }
  optional<T>(v: unknown, check: (v: unknown) => T): T | undefined {
    return v === undefined || v === null ? undefined : check(v);
  }
}

export const SchedulerOutputSchema: MessageSchema<SchedulerOutput> = {
  name: 'SchedulerOutput',
  validate(plain) {
    const c = new Checker('SchedulerOutput');
    const m = c.object(plain, '$');
    c.int(m['stepId'], 'stepId', 1);
    c.int(m['totalNumScheduledTokens'], 'totalNumScheduledTokens');
    c.stringArray(m['finishedRequestIds'], 'finishedRequestIds');
    c.stringArray(m['preemptedRequestIds'], 'preemptedRequestIds');
    const news = c.array(m['newRequests'], 'newRequests');
    for (let i = 0; i < news.length; i++) {
      const p = `newRequests[${i}]`;
      const r = c.object(news[i], p);
      c.string(r['requestId'], `${p}.requestId`);
      c.intArray(r['promptTokenIds'], `${p}.promptTokenIds`);
      c.intArray(r['outputTokenIds'], `${p}.outputTokenIds`);
      c.intArray(r['blockIds'], `${p}.blockIds`);
      c.int(r['numComputedTokens'], `${p}.numComputedTokens`);
      c.int(r['numScheduledTokens'], `${p}.numScheduledTokens`);
      const s = c.object(r['samplingParams'], `${p}.samplingParams`);
      c.int(s['minTokens'], `${p}.samplingParams.minTokens`);
      c.intArray(s['minTokensBannedTokenIds'], `${p}.samplingParams.minTokensBannedTokenIds`);
      for (const k of ['temperature', 'topP', 'minP', 'presencePenalty', 'frequencyPenalty', 'repetitionPenalty'] as const) {
        c.optional(s[k], (v) => c.number(v, `${p}.samplingParams.${k}`));
      }
      c.optional(s['topK'], (v) => c.int(v, `${p}.samplingParams.topK`, -1));
      c.optional(s['seed'], (v) => c.int(v, `${p}.samplingParams.seed`, Number.MIN_SAFE_INTEGER));
      c.optional(s['logprobs'], (v) => c.int(v, `${p}.samplingParams.logprobs`));
      c.optional(s['logitBias'], (v) => c.object(v, `${p}.samplingParams.logitBias`));
      c.optional(s['guided'], (v) => {
        const problem = guidedDecodingProblem(v);
        if (problem) c.fail(`${p}.samplingParams.guided`, problem, v);
        return v;
      });
    }
    const cached = c.object(m['cachedRequests'], 'cachedRequests');
    const ids = c.stringArray(cached['requestIds'], 'cachedRequests.requestIds');
    const blocks = c.array(cached['newBlockIds'], 'cachedRequests.newBlockIds');
    const computed = c.intArray(cached['numComputedTokens'], 'cachedRequests.numComputedTokens');
    const scheduled = c.intArray(cached['numScheduledTokens'], 'cachedRequests.numScheduledTokens');
    if (blocks.length !== ids.length || computed.length !== ids.length || scheduled.length !== ids.length) {
      c.fail('cachedRequests', 'parallel arrays must have the same length', [ids.length, blocks.length, computed.length, scheduled.length]);
    }
    for (let i = 0; i < blocks.length; i++) c.intArray(blocks[i], `cachedRequests.newBlockIds[${i}]`);
    return plain as SchedulerOutput;
  },
};

export const StepResultSchema: MessageSchema<StepResult> = {
  name: 'StepResult',
  validate(plain) {
    const c = new Checker('StepResult');
    const m = c.object(plain, '$');
    c.int(m['stepId'], 'stepId', 1);
    c.optional(m['error'], (v) => c.string(v, 'error'));
    const sampled = c.array(m['sampled'], 'sampled');
    for (let i = 0; i < sampled.length; i++) {
      const s = c.object(sampled[i], `sampled[${i}]`);
      c.string(s['requestId'], `sampled[${i}].requestId`);
      c.int(s['tokenId'], `sampled[${i}].tokenId`);
      c.optional(s['logprobs'], (v) => {
        const l = c.object(v, `sampled[${i}].logprobs`);
        c.number(l['logprob'], `sampled[${i}].logprobs.logprob`);
        c.optional(l['topTokenIds'], (t) => c.intArray(t, `sampled[${i}].logprobs.topTokenIds`));
        c.optional(l['topLogprobs'], (t) => c.array(t, `sampled[${i}].logprobs.topLogprobs`));
      });
    }
    return plain as StepResult;
  },
};

const FINISH = new Set(['stop', 'length', 'abort', 'error']);
const ERROR_CODES = new Set<string>(Object.values(ErrorCodes));

export const StepOutputsSchema: MessageSchema<StepOutputsMessage> = {
  name: 'StepOutputsMessage',
  validate(plain) {
    const c = new Checker('StepOutputsMessage');
    const m = c.object(plain, '$');
    c.int(m['stepId'], 'stepId');
    const outputs = c.array(m['outputs'], 'outputs');
    for (let i = 0; i < outputs.length; i++) {
      const p = `outputs[${i}]`;
      const o = c.object(outputs[i], p);
      c.string(o['requestId'], `${p}.requestId`);
      c.intArray(o['newTokenIds'], `${p}.newTokenIds`);
      c.int(o['numPromptTokens'], `${p}.numPromptTokens`);
      c.int(o['numCachedTokens'], `${p}.numCachedTokens`);
      c.int(o['numOutputTokens'], `${p}.numOutputTokens`);
      c.optional(o['finishReason'], (v) => (FINISH.has(v as string) ? v : c.fail(`${p}.finishReason`, 'must be stop, length, abort or error', v)));
      c.optional(o['logprobs'], (v) => c.array(v, `${p}.logprobs`));
    }
    return plain as StepOutputsMessage;
  },
};

export const DeltaBatchSchema: MessageSchema<DeltaBatchMessage> = {
  name: 'DeltaBatchMessage',
  validate(plain) {
    const c = new Checker('DeltaBatchMessage');
    const m = c.object(plain, '$');
    const deltas = c.array(m['deltas'], 'deltas');
    for (let i = 0; i < deltas.length; i++) {
      const p = `deltas[${i}]`;
      const d = c.object(deltas[i], p);
      c.string(d['requestId'], `${p}.requestId`);
      c.int(d['seq'], `${p}.seq`);
      if (typeof d['text'] !== 'string') c.fail(`${p}.text`, 'must be a string', d['text']);
      c.intArray(d['tokenIds'], `${p}.tokenIds`);
      c.optional(d['finishReason'], (v) => (FINISH.has(v as string) ? v : c.fail(`${p}.finishReason`, 'must be stop, length, abort or error', v)));
      c.optional(d['errorCode'], (v) => (ERROR_CODES.has(v as string) ? v : c.fail(`${p}.errorCode`, 'must be a protocol error code', v)));
    }
    return plain as DeltaBatchMessage;
  },
};

/** KvEventsMessage: up to KV_EVENTS_MAX_HASHES strings per message, checked in one pass. */
export const KvEventsSchema: MessageSchema<KvEventsMessage> = {
  name: 'KvEventsMessage',
  validate(plain) {
    const c = new Checker('KvEventsMessage');
    const m = c.object(plain, '$');
    c.string(m['replicaId'], 'replicaId');
    c.string(m['schedulerInstanceId'], 'schedulerInstanceId');
    c.int(m['seq'], 'seq', 1);
    c.optional(m['cleared'], (v) => (typeof v === 'boolean' ? v : c.fail('cleared', 'must be a boolean', v)));
    c.stringArray(m['stored'], 'stored');
    c.stringArray(m['removed'], 'removed');
    return plain as KvEventsMessage;
  },
};
