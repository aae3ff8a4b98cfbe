import { ErrorCodes, guidedDecodingKey, type ErrorCode, type ExecutorRegistration, type FinishReason, type GuidedDecoding, type RequestOutput, type SchedulerOutput, type StepOutputsMessage, type StepResult, type SubmitMessage } from '@deepinfer/contracts';
import { Scheduler } from '../scheduler.js';
import type { EngineLoopLogger, EngineLoopObserver, EngineLoopPorts } from './engine-loop-ports.js';
import type { BlockHash } from '../block-hasher.js';
import { DEFAULT_EXECUTOR_SILENCE_MS, DEFAULT_STEP_TIMEOUT_MS, type EngineLoopSettings } from './engine-loop-settings.js';
import type { EngineLoopStats } from './engine-loop-stats.js';
import { ExecutorSession } from './executor-session.js';
import { RateMeter } from './rate-meter.js';
import { schedulerConfigFor } from './scheduler-config-for.js';
import { refusalOf, type LoopOutcome } from './submit-outcome.js';

/**
 * The stepId of outputs that no step produced: final records of aborted requests and of requests
 * failed with their executor. Steps are numbered from 1.
 */
export const OUT_OF_STEP_ID = 0;

/** Steps with at most this many outputs send the next step before publishing them (see run()). */
const SEND_FIRST_MAX_OUTPUTS = 8;

/** A step sent to the executor, not answered yet. */
interface InFlightStep {
  readonly session: ExecutorSession;
  readonly step: SchedulerOutput;
  readonly startMs: number;
  readonly result: Promise<StepResult | undefined>;
}

/** A step answered and applied; its outputs are still to be published. */
interface FinishedStep extends InFlightStep {
  readonly outputs: StepOutputsMessage;
  readonly durationMs: number;
}

/** What a client learns when the executor is lost (the details are logged, not sent). */
const ENGINE_LOST = 'the inference engine stopped responding while this request ran; retry it';

/**
 * The scheduler service's engine: one executor session at a time, and the step loop that drives
 * its Scheduler. Framework-free; the transport is behind EngineLoopPorts.
 *
 * The loop runs only while there is work: submit() and abort() wake it (one macrotask hop, so
 * that a burst of submits delivered together lands in one step), then it runs schedule() → one
 * sendStep() → update() → one StepOutputsMessage per tokenizer instance and the next schedule()
 * and sendStep(), back to back, until the Scheduler has nothing to do. It never polls and never
 * sleeps; while a step is at the executor, the event loop serves submits and aborts, which join
 * the next step.
 *
 * With asynchronous scheduling (the default), the step after the one at the executor is
 * scheduled and sent at once (Scheduler.scheduleAhead), so the executor finds its next step
 * waiting when it answers, and the answer's host work (update, publishing, scheduling the step
 * after) overlaps the device's work on the step already sent: at most two steps are in flight.
 * When an ahead step cannot be built (KV pressure: only a synchronous step may preempt), the
 * loop waits for the answer and schedules synchronously. Without it, exactly one step is in
 * flight (a small step sends the next before it publishes, see run()).
 *
 * An executor that does not answer within stepTimeoutMs, answers with an error envelope or a
 * result that breaks the step contract is gone: every request of its session ends at once with
 * finish reason `error` (a final output to its tokenizer), its KV and prefix cache are forgotten,
 * submits are refused `unavailable` until an executor registers. A registration with another
 * executor id or epoch replaces the session the same way. A StepResult with `error` set is a
 * failed step, not a failed executor: only the requests in that step end with `error`.
 */
export class EngineLoop {
  private readonly stepTimeoutMs: number;
  private readonly asyncScheduling: boolean;
  /** When the last step's answer was applied (a step sent ahead starts running then). */
  private lastAnswerAtMs = 0;
  private readonly clock: () => number;
  private readonly stepRate: RateMeter;
  private session: ExecutorSession | undefined;
  private draining = false;
  private closed = false;
  private numExecutorFailures = 0;
  /** The loop's current run, while it has one (see kick()). */
  private running: Promise<void> | undefined;
  /** kick() was called during the current run (see run()'s finally). */
  private kickedWhileRunning = false;

  constructor(
    private readonly settings: EngineLoopSettings,
    private readonly ports: EngineLoopPorts,
    private readonly logger: EngineLoopLogger,
    private readonly observer: EngineLoopObserver = {},
  ) {
    this.stepTimeoutMs = settings.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    this.asyncScheduling = settings.asyncScheduling ?? true;
    this.clock = settings.clock ?? (() => performance.now());
    this.stepRate = new RateMeter(this.clock);
  }

  get hasExecutor(): boolean {
    return this.session !== undefined;
  }

  get numRunningRequests(): number {
    return this.session?.scheduler.numRunningRequests ?? 0;
  }

  get numWaitingRequests(): number {
    return this.session?.scheduler.numWaitingRequests ?? 0;
  }

  /** Guided requests held until their executor has compiled their grammar (not in numWaitingRequests). */
  get numWaitingForGrammarRequests(): number {
    return this.session?.scheduler.numWaitingForGrammarRequests ?? 0;
  }

  /** Fraction of KV blocks held by requests (vLLM's kv_cache_usage_perc: 0–1). */
  get kvCacheUsage(): number {
    const pool = this.session?.scheduler.kvCacheManager.pool;
    return pool ? pool.numUsedBlocks / pool.numBlocks : 0;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * An executor registers (after every start, then every few seconds as a heartbeat). The same
   * executor id and epoch again is a heartbeat; anything else starts a new session, replacing
   * the current one (its requests fail: the KV they were computed into is gone or not ours).
   * `newSession` tells the executor to drop every request state it holds. A capacity the
   * scheduler cannot work with (the model's context does not fit the KV cache) is refused and
   * leaves the current session alone.
   */
  register(registration: ExecutorRegistration): LoopOutcome<{ newSession: boolean }> {
    const now = this.clock();
    const current = this.session;
    if (current?.isSameExecutor(registration)) {
      current.lastSeenAtMs = now;
      return { accepted: true, value: { newSession: false } };
    }
    if (this.closed) return { accepted: false, code: 'unavailable', message: 'the scheduler is shutting down' };
    let scheduler: Scheduler;
    try {
      const config = { ...schedulerConfigFor(this.settings, registration), prefixCacheListener: this.settings.prefixCacheListener };
      scheduler = new Scheduler(config, { numBlocks: registration.numBlocks, blockSize: registration.blockSize });
    } catch (err) {
      return { accepted: false, code: 'bad_request', message: `cannot schedule for this executor: ${(err as Error).message}` };
    }
    scheduler.setDraining(this.draining);
    if (current) {
      this.endSession(
        current,
        `executor ${current.registration.executorId} (epoch ${current.registration.epoch}) was replaced by ${registration.executorId} (epoch ${registration.epoch})`,
        'the inference engine restarted while this request ran; retry it',
        ErrorCodes.unavailable,
      );
    }
    this.session = new ExecutorSession(registration, scheduler, now);
    this.logger.info('executor registered', {
      executorId: registration.executorId,
      epoch: registration.epoch,
      device: registration.device,
      model: registration.model.name,
      numBlocks: registration.numBlocks,
      blockSize: registration.blockSize,
    });
    return { accepted: true, value: { newSession: true } };
  }

  /** Admits a tokenized request, or says why not (never throws on bad input). */
  submit(message: SubmitMessage): LoopOutcome<true> {
    const session = this.session;
    if (!session) {
      return { accepted: false, code: 'unavailable', message: 'no executor is registered with the scheduler yet (the model may still be loading); retry shortly' };
    }
    // A guided request waits out of the queue (no blocks, never in a step) until its executor
    // confirms it holds the grammar and will keep it until the request's first step: a compile
    // takes up to seconds, and a step that admits the request would wait for it, stalling every
    // other stream (vLLM's WAITING_FOR_FSM). Every guided request asks, a cached spec included
    // (the executor answers at once): only the executor knows what its caches still hold.
    const guided = message.samplingParams.guided;
    const guideKey = guided && this.ports.prepareGuide ? guidedDecodingKey(guided) : undefined;
    const hold = guideKey !== undefined;
    const result = session.scheduler.submit(
      {
        requestId: message.requestId,
        promptTokenIds: message.promptTokenIds,
        samplingParams: message.samplingParams,
        cacheSalt: message.cacheSalt,
      },
      { holdForGrammar: hold },
    );
    if (!result.accepted) {
      const maxModelLen = schedulerConfigFor(this.settings, session.registration).maxModelLen;
      return refusalOf(result.reason, result.message, message.promptTokenIds.length, maxModelLen);
    }
    session.tokenizerOf.set(message.requestId, message.tokenizerInstanceId);
    if (hold) {
      if (session.guides.hold(guideKey, message.requestId)) void this.prepareGuide(session, guideKey, guided!);
    } else {
      this.kick();
    }
    return { accepted: true, value: true };
  }

  /**
   * Asks the session's executor to compile a grammar, then settles the requests held for it:
   * compiled → into the waiting queue; refused → each ends with finish reason `error`, the
   * executor's message and errorCode `bad_request` (Scheduler.refuseGrammar: the api answers 400,
   * and as a held request never ran, before any byte of a stream); no answer (timeout, an
   * executor without the route) → into the waiting queue all the same, their first step compiles
   * it (as before the prepare step; a dead executor ends its session, and them with it, as it
   * does every request). Requests aborted meanwhile are gone from the scheduler and are skipped.
   */
  private async prepareGuide(session: ExecutorSession, key: string, spec: GuidedDecoding): Promise<void> {
    const answer = await this.ports.prepareGuide!(session.registration.executorId, spec).catch((err: unknown) => ({ outcome: 'unknown' as const, message: String(err) }));
    if (session.isEnded) return; // its requests ended with it
    const held = session.guides.settle(key);
    if (answer.outcome === 'refused') {
      const finals: RequestOutput[] = [];
      for (const requestId of held) {
        const output = session.scheduler.refuseGrammar(requestId, answer.message);
        if (output) finals.push(output);
      }
      this.publishOutputs(session, OUT_OF_STEP_ID, finals);
      return;
    }
    if (answer.outcome === 'unknown') this.logger.warn('the executor did not prepare a grammar; its requests compile it in their first step', { error: answer.message, numRequests: held.length });
    let released = false;
    for (const requestId of held) released = session.scheduler.releaseGrammarHold(requestId) || released;
    if (released) this.kick();
  }

  /**
   * Ends the listed requests this scheduler owns (others are another scheduler's: ignored). Each
   * one's final output (finish reason `abort`, `stop` or `error`, usage so far) goes to its
   * tokenizer at once, so that its stream closes even when the abort did not come from there.
   */
  abort(requestIds: readonly string[], reason: Exclude<FinishReason, 'length'>): number {
    const session = this.session;
    if (!session) return 0;
    const finals: RequestOutput[] = [];
    for (const requestId of requestIds) {
      if (!session.tokenizerOf.has(requestId)) continue;
      const output = session.scheduler.abort(requestId, reason);
      if (output) finals.push(output);
    }
    this.publishOutputs(session, OUT_OF_STEP_ID, finals);
    // The next step must tell the executor to drop what it held for them.
    if (finals.length > 0) this.kick();
    return finals.length;
  }

  setDraining(draining: boolean): void {
    this.draining = draining;
    this.session?.scheduler.setDraining(draining);
  }

  /** Every block hash in the prefix cache now (a full KV-event resync); empty without an executor. */
  cachedBlockHashes(): BlockHash[] {
    const pool = this.session?.scheduler.kvCacheManager.pool;
    if (!pool) return [];
    const hashes: BlockHash[] = [];
    for (const [hash] of pool.cachedBlocks()) hashes.push(hash);
    return hashes;
  }

  /**
   * The load the replica reports to routers: requests running and waiting (those held while their
   * grammar compiles included: they join the queue next), free and total KV blocks.
   */
  load(): { numRunning: number; numWaiting: number; numFreeBlocks: number; numBlocks: number } {
    const scheduler = this.session?.scheduler;
    const pool = scheduler?.kvCacheManager.pool;
    return {
      numRunning: scheduler?.numRunningRequests ?? 0,
      numWaiting: (scheduler?.numWaitingRequests ?? 0) + (scheduler?.numWaitingForGrammarRequests ?? 0),
      numFreeBlocks: pool?.numFreeBlocks ?? 0,
      numBlocks: pool?.numBlocks ?? 0,
    };
  }

  /** The current executor's model revision (the prefix-cache key) and block size; undefined without one. */
  get cacheIdentity(): { modelCacheKey: string; blockSize: number } | undefined {
    const r = this.session?.registration;
    return r && { modelCacheKey: r.model.revision, blockSize: r.blockSize };
  }

  /**
   * Liveness of the current executor, called every few hundred ms by the service: an executor
   * silent for executorSilenceMs, or one whose ping subject nobody serves any more (its process
   * died: NATS answers "no responders" at once), is gone: its session ends like a failed step's,
   * every request with `error`, at once rather than after the step deadline.
   */
  async checkExecutor(): Promise<void> {
    const session = this.session;
    if (!session || this.closed) return;
    const silentMs = this.clock() - session.lastSeenAtMs;
    if (silentMs > (this.settings.executorSilenceMs ?? DEFAULT_EXECUTOR_SILENCE_MS)) {
      this.endSession(session, `no heartbeat from the executor for ${Math.round(silentMs)} ms`, ENGINE_LOST, ErrorCodes.unavailable, true);
      return;
    }
    const verdict = await this.ports.pingExecutor?.(session.registration.executorId);
    if (verdict === 'gone' && !session.isEnded) this.endSession(session, 'the executor is gone (its ping subject has no responders)', ENGINE_LOST, ErrorCodes.unavailable, true);
  }

  /** Forgets every cached prefix; false (nothing changed) while requests hold blocks. */
  resetPrefixCache(): boolean {
    return this.session?.scheduler.resetPrefixCache() ?? true;
  }

  stats(): EngineLoopStats {
    const session = this.session;
    const now = this.clock();
    let executor: EngineLoopStats['executor'] = null;
    if (session) {
      const r = session.registration;
      const config = schedulerConfigFor(this.settings, r);
      executor = {
        executorId: r.executorId,
        epoch: r.epoch,
        device: r.device,
        modelName: r.model.name,
        modelRevision: r.model.revision,
        numBlocks: r.numBlocks,
        blockSize: r.blockSize,
        maxModelLen: config.maxModelLen,
        maxNumBatchedTokens: config.maxNumBatchedTokens,
        registeredForMs: Math.round(now - session.registeredAtMs),
        lastSeenMsAgo: Math.round(now - session.lastSeenAtMs),
      };
    }
    return {
      executor,
      draining: this.draining,
      stepsPerSecond: this.stepRate.perSecond(),
      numExecutorFailuresTotal: this.numExecutorFailures,
      scheduler: session ? session.scheduler.stats() : null,
    };
  }

  /**
   * Stops the loop: every live request ends with `error` (its client gets a clear final frame
   * rather than a stream that never ends) and the step in flight is abandoned.
   */
  async close(): Promise<void> {
    this.closed = true;
    const session = this.session;
    if (session) this.endSession(session, 'the scheduler is shutting down', 'the server is shutting down; retry the request', ErrorCodes.unavailable);
    await this.running;
  }

  /** Resolves once the loop has nothing left to do (it may have stepped several times meanwhile). */
  async whenIdle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Starts the loop unless it runs; a macrotask later, so that submits arriving together share a step. */
  private kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.kickedWhileRunning = true;
      return;
    }
    this.kickedWhileRunning = false;
    this.running = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.run());
  }

  private async run(): Promise<void> {
    try {
      if (this.asyncScheduling) await this.runPipelined();
      else await this.runOneAtATime();
    } catch (err) {
      // A bug, not the executor's fault: fail loudly rather than spin on a broken state.
      this.logger.error('the step loop failed', { err });
      if (this.session) this.endSession(this.session, `internal error in the step loop: ${(err as Error).message}`, 'internal error in the scheduler', undefined);
    } finally {
      this.running = undefined;
      // Microtasks can run between the run's last hasWork() check and here (a grammar's prepare
      // answer or a submit delivered in the same socket read as the last step's result): a kick()
      // among them found the loop running and was dropped, so the work it brought would wait for
      // the next kick. Run again (it ends at once if there is nothing to do).
      if (this.kickedWhileRunning) this.kick();
    }
  }

  /**
   * Asynchronous scheduling: keep a step scheduled ahead behind the one at the executor. Per
   * answer: apply it and publish its outputs, then (in the same synchronous stretch) schedule and
   * send the step after the one now running, so the executor is never without its next step
   * while there is work, and never more than one step ahead.
   */
  private async runPipelined(): Promise<void> {
    const inFlight: InFlightStep[] = [];
    const first = this.startStep();
    if (first) inFlight.push(first);
    while (inFlight.length > 0) {
      if (inFlight.length === 1) {
        const ahead = this.startStepAhead(inFlight[0]!.session);
        if (ahead) inFlight.push(ahead);
      }
      const done = await this.finishStep(inFlight.shift()!);
      if (done) this.completeStep(done);
      if (inFlight.length === 0) {
        const next = this.startStep();
        if (next) inFlight.push(next);
      }
    }
  }

  /** One step in flight at a time (async_scheduling off). */
  private async runOneAtATime(): Promise<void> {
    {
      let inFlight = this.startStep();
      while (inFlight) {
        const done = await this.finishStep(inFlight);
        // Publishing the outputs and sending the next step happen in one synchronous stretch,
        // so both messages leave in one socket write, and nothing (no macrotask) can come in
        // between: scheduling decisions are the same in either order. A small step sends the
        // next step first: at a few streams the loop's latency is the hops, and nats-server then
        // wakes the executor before the tokenizer. A large step publishes first, as the loop
        // always did: measured at 64 streams, sending first was no faster (the engine then
        // shares the cores with the detokenizing of 64 outputs from its first microsecond).
        if (done && done.outputs.outputs.length > SEND_FIRST_MAX_OUTPUTS) {
          this.completeStep(done);
          inFlight = this.startStep();
        } else {
          inFlight = this.startStep();
          if (done) this.completeStep(done);
        }
      }
    }
  }

  /** Schedules the next step and sends it, when there is one to run (no step of the session in flight). */
  private startStep(): InFlightStep | undefined {
    const session = this.session;
    if (this.closed || !session || !session.scheduler.hasWork() || session.scheduler.isStepInFlight) return undefined;
    return this.send(session, session.scheduler.schedule());
  }

  /**
   * Schedules and sends the step after the one in flight of `session`, when the scheduler can
   * build one (asynchronous scheduling); undefined otherwise (the session changed, nothing to
   * run yet, or KV pressure).
   */
  private startStepAhead(session: ExecutorSession): InFlightStep | undefined {
    if (this.closed || this.session !== session || session.isEnded || session.scheduler.numStepsInFlight !== 1 || !session.scheduler.hasWork()) return undefined;
    const step = session.scheduler.scheduleAhead();
    return step ? this.send(session, step) : undefined;
  }

  private send(session: ExecutorSession, step: SchedulerOutput): InFlightStep {
    const startMs = this.clock();
    const result = session.waitUnlessEnded(this.ports.sendStep(session.registration.stepSubject, step, this.stepTimeoutMs));
    return { session, step, startMs, result };
  }

  /** Waits for a step's result and applies it; undefined when the step ended its session (or the session ended meanwhile). */
  private async finishStep(inFlight: InFlightStep): Promise<FinishedStep | undefined> {
    const { session, step } = inFlight;
    let result: StepResult | undefined;
    try {
      result = await inFlight.result;
    } catch (err) {
      if (!session.isEnded) this.endSession(session, `step ${step.stepId} failed: ${(err as Error).message}`, ENGINE_LOST, ErrorCodes.unavailable, true);
      return undefined;
    }
    if (result === undefined || session.isEnded) return undefined; // replaced or closed while the step ran

    let outputs: StepOutputsMessage;
    try {
      outputs = session.scheduler.update(result);
    } catch (err) {
      this.endSession(session, `the executor broke the step contract: ${(err as Error).message}`, ENGINE_LOST, ErrorCodes.unavailable, true);
      return undefined;
    }
    // A step sent ahead waited behind its predecessor: its duration counts from that answer.
    const now = this.clock();
    const durationMs = now - Math.max(inFlight.startMs, this.lastAnswerAtMs);
    this.lastAnswerAtMs = now;
    return { ...inFlight, outputs, durationMs };
  }

  /** Publishes a finished step's outputs and reports it to the observer. */
  private completeStep({ session, step, outputs, durationMs }: FinishedStep): void {
    this.publishOutputs(session, outputs.stepId, outputs.outputs);
    this.stepRate.record();

    const scheduler = session.scheduler;
    const kv = scheduler.kvCacheManager;
    const numQuery = kv.numQueryTokens;
    const numHit = kv.numHitTokens;
    const numPreemptions = scheduler.numPreemptions;
    this.observer.onStep?.({
      stepId: step.stepId,
      numRequests: step.newRequests.length + step.cachedRequests.requestIds.length,
      numScheduledTokens: step.totalNumScheduledTokens,
      durationMs,
      numPrefixQueryTokens: numQuery - session.lastNumPrefixQueryTokens,
      numPrefixHitTokens: numHit - session.lastNumPrefixHitTokens,
      numPreemptions: numPreemptions - session.lastNumPreemptions,
    });
    session.lastNumPrefixQueryTokens = numQuery;
    session.lastNumPrefixHitTokens = numHit;
    session.lastNumPreemptions = numPreemptions;
  }

  /**
   * Ends a session: every request it holds ends with `error` (`clientError`, and `errorCode`:
   * `unavailable` when the engine was lost or replaced or the scheduler stops, so that a client
   * that has received nothing yet gets a 503 it may retry; none for the scheduler's own bug, a
   * 500), published to its tokenizer, and nothing of its KV or prefix cache is kept. Submits are
   * refused until an executor registers.
   */
  private endSession(session: ExecutorSession, reason: string, clientError: string, errorCode: ErrorCode | undefined, executorFailed = false): void {
    if (session.isEnded) return;
    session.end();
    if (this.session === session) this.session = undefined;
    const numRequests = session.tokenizerOf.size;
    if (executorFailed) {
      this.numExecutorFailures++;
      this.observer.onExecutorFailure?.(reason);
      this.logger.error('executor lost; failing its requests', { executorId: session.registration.executorId, epoch: session.registration.epoch, reason, numRequests });
    } else {
      this.logger.info('executor session ended', { executorId: session.registration.executorId, reason, numRequests });
    }
    // Abandon the step in flight and release every block, then end each request.
    session.scheduler.resetPrefixCache({ force: true });
    const finals: RequestOutput[] = [];
    for (const requestId of [...session.tokenizerOf.keys()]) {
      const output = session.scheduler.abort(requestId, 'error', clientError, errorCode);
      if (output) finals.push(output);
    }
    this.publishOutputs(session, OUT_OF_STEP_ID, finals);
  }

  /** One message per tokenizer instance among `outputs`; final outputs retire their request. */
  private publishOutputs(session: ExecutorSession, stepId: number, outputs: readonly RequestOutput[]): void {
    if (outputs.length === 0) return;
    const byTokenizer = new Map<string, RequestOutput[]>();
    for (const output of outputs) {
      const tokenizerInstanceId = session.tokenizerOf.get(output.requestId);
      if (tokenizerInstanceId === undefined) continue;
      if (output.finishReason !== undefined) {
        session.tokenizerOf.delete(output.requestId);
        this.observer.onRequestFinished?.(output);
      }
      const list = byTokenizer.get(tokenizerInstanceId);
      if (list) list.push(output);
      else byTokenizer.set(tokenizerInstanceId, [output]);
    }
    for (const [tokenizerInstanceId, list] of byTokenizer) {
      try {
        this.ports.publishOutputs(tokenizerInstanceId, { stepId, outputs: list });
      } catch (err) {
        this.logger.warn('cannot publish step outputs', { tokenizerInstanceId, stepId, err });
      }
    }
  }
}
