import { ErrorCodes, ProtocolError, type GuidedDecoding, type SampledToken, type SchedulerOutput, type StepResult } from '@deepinfer/contracts';
import { ExecutorRequest } from './executor-request.js';
import { GrammarRefusedError, type EngineSample, type EngineSequence, type GuideFactory, type GuidePreparer, type RowMask, type StepEngine, type StepMasks } from './step-engine.js';

interface PlannedSequence {
  request: ExecutorRequest;
  start: number;
  count: number;
  newBlockIds: readonly number[];
  isNew: boolean;
}

/** A decode step computed ahead of the scheduler's message (see ExecutorState.speculate). */
interface Speculation {
  /** The batch, in the order of the step it repeats. */
  readonly requests: readonly ExecutorRequest[];
  /** numComputedTokens of each request when the speculation started. */
  readonly computedAt: readonly number[];
  /** The samples; undefined when the engine failed (never rejects). */
  readonly done: Promise<(EngineSample | undefined)[] | undefined>;
}

export interface ExecutorStateOptions {
  /**
   * Largest batch speculate() computes ahead; 0 turns it off. Default 8: ahead-of-time decode
   * pays off where the fixed per-step cost dominates (small batches); a large batch rarely
   * qualifies (some sequence needs a new block almost every step), and a wasted step of it
   * would cost real compute.
   */
  maxDecodeAheadSequences?: number;
  /**
   * Makes the grammar state of a guided request (samplingParams.guided). Without it, a guided
   * request samples nothing and ends with finish reason `error`.
   */
  guideFactory?: GuideFactory;
  /**
   * Compiles a guided request's grammar ahead of the step that admits it (prepareGuide(), the
   * scheduler's prepare route, asked for every guided request), into the cache guideFactory uses,
   * and keeps it there until the guide is made. Without it prepareGuide() compiles nothing (the
   * step compiles, as it always could).
   */
  guidePreparer?: GuidePreparer;
  /** Called after every step with guided sequences: what their masks cost (metrics). */
  onGuidedStep?: (stats: GuidedStepStats) => void;
}

/** The guided-decoding cost of one step. */
export interface GuidedStepStats {
  /** Per guided sequence that got a mask: the time its guide spent computing it (Guide.lastMaskMs). */
  readonly maskMs: readonly number[];
  /** How long sampling waited for the masks after the forward pass (StepMasks.waitedMs); undefined if the engine does not say. */
  readonly waitedMs: number | undefined;
}

/**
 * The executor obeys: it holds, per request, the tokens and block table the scheduler told it
 * about, turns each SchedulerOutput into one engine batch, and answers the sampled tokens. It
 * checks the step against its own books before touching anything, so a malformed step is
 * refused whole and leaves the state as it was.
 *
 * Decode ahead (speculate()): while the answer to step N travels to the scheduler and the
 * scheduler prepares step N+1, the engine is idle. When step N was a pure decode whose
 * requests can all go on without a new block, the executor runs the obvious next step (the
 * same requests, one token each, the tokens it just sampled) at once and keeps the samples
 * without touching its books. If step N+1 turns out to be exactly that step, it is answered
 * from the kept samples; otherwise they are dropped and N+1 runs as usual. Observable
 * behaviour does not change:
 * - the kept samples are what the real step would produce: same tokens, positions and block
 *   tables, and the engine's output does not depend on batch composition or timing; only
 *   greedy or per-request-seeded sequences qualify, whose tokens never depend on the engine's
 *   shared generator. (The engine still draws from it once per sampling row, greedy ones
 *   included, so a dropped speculation advances it: unseeded random requests, whose draws
 *   already depend on the order and number of rows in each step, are not reproducible run to
 *   run; seeded and greedy ones are.)
 * - a dropped speculation only wrote the KV of one position per request, in a block the request
 *   held and that was not full (full blocks can be shared through the prefix cache; partial ones
 *   never are). If the scheduler has meanwhile freed that block and hands it to another request
 *   in step N+1, the speculation has finished before N+1 runs (one engine step at a time, and
 *   execute() waits for it), and the new owner writes every slot before attention reads it.
 */
export class ExecutorState {
  private readonly requests = new Map<string, ExecutorRequest>();
  private readonly maxDecodeAheadSequences: number;
  /** The requests of the last step executed, in its order (decode-ahead candidates). */
  private lastBatch: readonly ExecutorRequest[] = [];
  private speculation: Speculation | undefined;
  private executing = false;
  /** Steps received and not started yet; the chain they run on, in arrival order. */
  private numQueuedSteps = 0;
  private queueTail: Promise<unknown> = Promise.resolve();
  private numSpeculationsUsed = 0;
  private numSpeculationsDropped = 0;

  constructor(
    private readonly engine: StepEngine,
    /** Tokens per KV block (the executor's own, reported at registration). */
    private readonly blockSize: number,
    /** Ids must be below this. */
    private readonly vocabSize: number,
    private readonly numBlocks: number,
    options: ExecutorStateOptions = {},
  ) {
    this.maxDecodeAheadSequences = options.maxDecodeAheadSequences ?? 8;
    this.guideFactory = options.guideFactory;
    this.guidePreparer = options.guidePreparer;
    this.onGuidedStep = options.onGuidedStep;
  }

  private readonly guideFactory: GuideFactory | undefined;
  private readonly guidePreparer: GuidePreparer | undefined;

  /**
   * Makes sure the grammar of `spec` is compiled, and stays so until the request's guide is made,
   * before any step needs it (Routes.executorPrepareGuide: the scheduler holds every guided
   * request until this answers), off the step queue: steps keep running meanwhile. A grammar
   * already held answers at once. A grammar that cannot be compiled (GrammarRefusedError), or an
   * executor without guided decoding, is ProtocolError(bad_request) naming why: the request would
   * fail in its first step anyway, and its client is told so (400). Any other failure is the
   * executor's own (internal): not the client's to fix.
   */
  async prepareGuide(spec: GuidedDecoding): Promise<void> {
    if (!this.guideFactory) throw new ProtocolError(ErrorCodes.badRequest, 'guided decoding is not available on this executor');
    try {
      await this.guidePreparer?.(spec);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof GrammarRefusedError) throw new ProtocolError(ErrorCodes.badRequest, `guided decoding: the grammar cannot be compiled: ${message}`, 'guided');
      throw new ProtocolError(ErrorCodes.internal, `guided decoding failed on this executor: ${message}`);
    }
  }
  private readonly onGuidedStep: ((stats: GuidedStepStats) => void) | undefined;

  /** Decode-ahead steps used and dropped so far (see speculate()). */
  get speculationStats(): { used: number; dropped: number } {
    return { used: this.numSpeculationsUsed, dropped: this.numSpeculationsDropped };
  }

  /**
   * Starts computing the likely next step (see the class comment) when the last step allows it;
   * call it once the last step's answer has been sent. Returns whether it started one.
   */
  speculate(): boolean {
    const batch = this.lastBatch;
    // Not when the next step is already here (asynchronous scheduling sends it ahead): the
    // speculation would only delay it.
    if (this.executing || this.numQueuedSteps > 0 || this.speculation || batch.length === 0 || batch.length > this.maxDecodeAheadSequences) return false;
    if (this.requests.size !== batch.length) return false; // someone else would join the next step
    for (const request of batch) {
      if (this.requests.get(request.requestId) !== request || !request.canDecodeAhead(this.blockSize)) return false;
    }
    const sequences = batch.map((r): EngineSequence => ({
      tokenIds: r.tokenSlice(r.numComputedTokens, 1),
      startPos: r.numComputedTokens,
      blockTable: r.blockTable,
      sample: true,
      guided: r.samplingParams.guided !== undefined,
      sampling: r.engineSampling(),
      promptIds: r.prompt,
      outputIds: r.outputsForPenalties(),
    }));
    // Guided requests' masks come from their guides, which hold every token sampled so far,
    // computed while the forward pass runs (runEngineStep).
    const done = this.runEngineStep(sequences, batch).then(
      (samples) => samples,
      () => undefined,
    );
    this.speculation = { requests: batch, computedAt: batch.map((r) => r.numComputedTokens), done };
    return true;
  }

  get numRequests(): number {
    return this.requests.size;
  }

  /** Forgets every request (the scheduler reset, or a new registration). */
  reset(): void {
    for (const r of this.requests.values()) r.guide?.dispose();
    this.requests.clear();
    this.lastBatch = [];
  }

  /**
   * Runs `step` after every step received before it (in arrival order): with asynchronous
   * scheduling the scheduler sends step N+1 while N runs, and N+1 is planned against the books N
   * leaves (the tokens N samples are the ones N+1 computes). A step that fails does not stop the
   * ones behind it from being tried (each is checked against the books as they are then).
   */
  execute(step: SchedulerOutput): Promise<StepResult> {
    this.numQueuedSteps++;
    const run = this.queueTail.then(async () => {
      this.numQueuedSteps--;
      this.executing = true;
      try {
        return await this.executeStep(step);
      } finally {
        this.executing = false;
      }
    });
    this.queueTail = run.catch(() => undefined);
    return run;
  }

  private async executeStep(step: SchedulerOutput): Promise<StepResult> {
    const started = performance.now();
    const speculation = this.speculation;
    if (speculation) {
      // The engine runs one step at a time: whatever happens next waits for it.
      const samples = await speculation.done;
      this.speculation = undefined;
      if (samples && this.matches(step, speculation, samples)) {
        this.numSpeculationsUsed++;
        return this.answerFromSpeculation(step, speculation.requests, samples, started);
      }
      this.numSpeculationsDropped++;
    }
    this.lastBatch = [];
    const plan = this.plan(step);
    // Phase 2: the step is valid; apply it.
    for (const id of [...step.finishedRequestIds, ...step.preemptedRequestIds]) {
      this.requests.get(id)?.guide?.dispose();
      this.requests.delete(id);
    }
    for (const p of plan) {
      if (p.isNew) this.requests.set(p.request.requestId, p.request);
      else p.request.appendBlocks(p.newBlockIds);
    }
    // Guided requests: their grammar state, made once (and, for a resumed request, advanced over
    // its outputs so far); then, per sampling request, the mask of the token it samples now.
    for (const p of plan) {
      const guided = p.request.samplingParams.guided;
      if (!p.isNew || guided === undefined) continue;
      if (!this.guideFactory) {
        p.request.guideError = 'guided decoding is not available on this executor';
        continue;
      }
      try {
        p.request.guide = await this.guideFactory(guided, p.request.tokens.slice(p.request.numPromptTokens));
      } catch (err) {
        p.request.guideError = err instanceof Error ? err.message : String(err);
      }
    }
    const sequences: EngineSequence[] = [];
    for (const p of plan) {
      // A guided request without its guide never samples: it ends with finish reason `error`.
      const sample = p.start + p.count === p.request.tokens.length && p.request.guideError === undefined;
      sequences.push({
        tokenIds: p.request.tokenSlice(p.start, p.count),
        startPos: p.start,
        blockTable: p.request.blockTable,
        sample,
        guided: sample && p.request.samplingParams.guided !== undefined,
        sampling: p.request.engineSampling(),
        promptIds: p.request.prompt,
        outputIds: p.request.outputsForPenalties(),
      });
    }
    const samples = sequences.length > 0 ? await this.runEngineStep(sequences, plan.map((p) => p.request)) : [];
    const sampled: SampledToken[] = [];
    for (let i = 0; i < plan.length; i++) {
      const { request, count } = plan[i]!;
      request.numComputedTokens += count;
      const sample = samples[i];
      if (!sequences[i]!.sample || !sample) continue;
      request.appendSampled(sample.tokenId);
      sampled.push(
        sample.logprob === undefined
          ? { requestId: request.requestId, tokenId: sample.tokenId }
          : { requestId: request.requestId, tokenId: sample.tokenId, logprobs: { logprob: sample.logprob, topTokenIds: sample.topIds ?? [], topLogprobs: sample.topLogprobs ?? [] } },
      );
    }
    this.lastBatch = plan.map((p) => p.request);
    return { stepId: step.stepId, sampled, executeTimeMs: performance.now() - started };
  }

  /**
   * Runs one engine step. With guided sequences, the forward pass starts first and their masks
   * are computed meanwhile (each guide has accepted every token sampled before this step), then
   * handed to the engine, which waits for them only before sampling. The masks promise never
   * rejects: a guide that fails gives `'refuse'` (that sequence samples nothing and its request
   * ends with `error`), so the engine is always released.
   */
  private async runEngineStep(sequences: readonly EngineSequence[], requests: readonly ExecutorRequest[]): Promise<(EngineSample | undefined)[]> {
    if (!sequences.some((s) => s.guided)) return this.engine.step(sequences);
    let deliver!: (rows: readonly RowMask[]) => void;
    const supply: StepMasks = { masks: new Promise<readonly RowMask[]>((resolve) => (deliver = resolve)) };
    const stepping = this.engine.step(sequences, supply);
    stepping.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    const maskMs: number[] = [];
    deliver(
      await Promise.all(
        sequences.map(async (s, i): Promise<RowMask> => {
          if (!s.guided) return undefined;
          const request = requests[i]!;
          const guide = request.guide;
          if (!guide) return 'refuse';
          try {
            const mask = await guide.nextMask();
            if (guide.lastMaskMs !== undefined) maskMs.push(guide.lastMaskMs);
            return mask;
          } catch (err) {
            request.guideError = err instanceof Error ? err.message : String(err);
            return 'refuse';
          }
        }),
      ),
    );
    const samples = await stepping;
    this.onGuidedStep?.({ maskMs, waitedMs: supply.waitedMs });
    return samples;
  }

  /** Whether `step` is exactly the step the speculation computed, and it sampled every request. */
  private matches(step: SchedulerOutput, speculation: Speculation, samples: readonly (EngineSample | undefined)[]): boolean {
    if (step.newRequests.length > 0 || step.finishedRequestIds.length > 0 || step.preemptedRequestIds.length > 0) return false;
    const c = step.cachedRequests;
    const requests = speculation.requests;
    if (c.requestIds.length !== requests.length || samples.length !== requests.length) return false;
    for (let i = 0; i < requests.length; i++) {
      const request = requests[i]!;
      if (
        c.requestIds[i] !== request.requestId ||
        this.requests.get(request.requestId) !== request ||
        c.numScheduledTokens[i] !== 1 ||
        c.newBlockIds[i]?.length !== 0 ||
        c.numComputedTokens[i] !== speculation.computedAt[i] ||
        request.numComputedTokens !== speculation.computedAt[i] ||
        samples[i] === undefined
      ) {
        return false;
      }
    }
    return true;
  }

  private answerFromSpeculation(step: SchedulerOutput, requests: readonly ExecutorRequest[], samples: readonly (EngineSample | undefined)[], started: number): StepResult {
    const sampled: SampledToken[] = [];
    for (let i = 0; i < requests.length; i++) {
      const request = requests[i]!;
      const sample = samples[i]!;
      request.numComputedTokens += 1;
      request.appendSampled(sample.tokenId);
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
