import { ErrorCodes, ProtocolError, type SampledToken, type SchedulerOutput, type StepResult } from '@deepinfer/contracts';
import { ExecutorRequest } from './executor-request.js';
import type { EngineSequence, StepEngine } from './step-engine.js';

interface PlannedSequence {
  request: ExecutorRequest;
  start: number;
  count: number;
  newBlockIds: readonly number[];
  isNew: boolean;
}

/**
 * The executor obeys: it holds, per request, the tokens and block table the scheduler told it
 * about, turns each SchedulerOutput into one engine batch, and answers the sampled tokens. It
 * checks the step against its own books before touching anything, so a malformed step is
 * refused whole and leaves the state as it was.
 */
export class ExecutorState {
  private readonly requests = new Map<string, ExecutorRequest>();

  constructor(
    private readonly engine: StepEngine,
    /** Tokens per KV block (the executor's own, reported at registration). */
    private readonly blockSize: number,
    /** Ids must be below this. */
    private readonly vocabSize: number,
    private readonly numBlocks: number,
  ) {}

  get numRequests(): number {
    return this.requests.size;
  }

  /** Forgets every request (the scheduler reset, or a new registration). */
  reset(): void {
    this.requests.clear();
  }

  async execute(step: SchedulerOutput): Promise<StepResult> {
    const started = performance.now();
    const plan = this.plan(step);
    // Phase 2: the step is valid; apply it.
    for (const id of step.finishedRequestIds) this.requests.delete(id);
    for (const id of step.preemptedRequestIds) this.requests.delete(id);
    for (const p of plan) {
      if (p.isNew) this.requests.set(p.request.requestId, p.request);
      else p.request.blockIds.push(...p.newBlockIds);
    }
    const sequences: EngineSequence[] = plan.map((p) => ({
      tokenIds: Int32Array.from(p.request.tokens.slice(p.start, p.start + p.count)),
      startPos: p.start,
      blockTable: Int32Array.from(p.request.blockIds),
      sample: p.start + p.count === p.request.tokens.length,
      sampling: p.request.engineSampling(),
      promptIds: p.request.prompt,
      outputIds: p.request.outputsForPenalties(),
    }));
    const samples = sequences.length > 0 ? await this.engine.step(sequences) : [];
    const sampled: SampledToken[] = [];
    for (let i = 0; i < plan.length; i++) {
      const { request, count } = plan[i]!;
      request.numComputedTokens += count;
      const sample = samples[i];
      if (!sequences[i]!.sample || !sample) continue;
      request.tokens.push(sample.tokenId);
      sampled.push(
        sample.logprob === undefined
          ? { requestId: request.requestId, tokenId: sample.tokenId }
          : { requestId: request.requestId, tokenId: sample.tokenId, logprobs: { logprob: sample.logprob, topTokenIds: sample.topIds ?? [], topLogprobs: sample.topLogprobs ?? [] } },
      );
    }
    return { stepId: step.stepId, sampled, executeTimeMs: performance.now() - started };
  }

  /** Phase 1: checks the whole step against our books without changing them. */
  private plan(step: SchedulerOutput): PlannedSequence[] {
    const gone = new Set([...step.finishedRequestIds, ...step.preemptedRequestIds]);
    const seen = new Set<string>();
    const plan: PlannedSequence[] = [];
    const once = (id: string) => {
      if (seen.has(id)) this.refuse(`request ${id} appears twice in step ${step.stepId}`);
      seen.add(id);
    };
    for (const data of step.newRequests) {
      once(data.requestId);
      if (this.requests.has(data.requestId) && !gone.has(data.requestId)) this.refuse(`request ${data.requestId} is new in step ${step.stepId} but already held`);
      const request = new ExecutorRequest(data);
      plan.push(this.check({ request, start: data.numComputedTokens, count: data.numScheduledTokens, newBlockIds: [], isNew: true }, []));
    }
    const c = step.cachedRequests;
    for (let i = 0; i < c.requestIds.length; i++) {
      const id = c.requestIds[i]!;
      once(id);
      const request = gone.has(id) ? undefined : this.requests.get(id);
      if (!request) this.refuse(`request ${id} in step ${step.stepId} is not held by this executor`);
      if (c.numComputedTokens[i] !== request.numComputedTokens) {
        this.refuse(`request ${id}: the scheduler says ${c.numComputedTokens[i]} computed tokens, the executor has ${request.numComputedTokens}`);
      }
      plan.push(this.check({ request, start: request.numComputedTokens, count: c.numScheduledTokens[i]!, newBlockIds: c.newBlockIds[i]!, isNew: false }, c.newBlockIds[i]!));
    }
    return plan;
  }

  private check(p: PlannedSequence, newBlockIds: readonly number[]): PlannedSequence {
    const { request, start, count } = p;
    const id = request.requestId;
    if (count < 1) this.refuse(`request ${id}: nothing scheduled`);
    if (start + count > request.tokens.length) {
      this.refuse(`request ${id}: scheduled positions [${start}, ${start + count}) but only ${request.tokens.length} tokens are known`);
    }
    const numBlocks = request.blockIds.length + (p.isNew ? 0 : newBlockIds.length);
    if (numBlocks * this.blockSize < start + count) {
      this.refuse(`request ${id}: ${numBlocks} blocks of ${this.blockSize} cannot hold ${start + count} tokens`);
    }
    for (const b of p.isNew ? request.blockIds : newBlockIds) {
      if (b >= this.numBlocks) this.refuse(`request ${id}: block ${b} does not exist (${this.numBlocks} blocks)`);
    }
    for (let t = start; t < start + count; t++) {
      if (request.tokens[t]! >= this.vocabSize) this.refuse(`request ${id}: token ${request.tokens[t]} is outside the vocabulary (${this.vocabSize})`);
    }
    return p;
  }

  private refuse(message: string): never {
    throw new ProtocolError(ErrorCodes.badRequest, message);
  }
}
