import { guidedDecodingKey, type GuidedDecoding } from '@deepinfer/contracts';
import { GrammarCompileError } from '../grammar.js';
import { GuideWorker, PooledGuide, type GrammarEntry } from './guide-worker.js';
import type { GuideWorkerData, GuideWorkerReply } from './guide-worker.protocol.js';

export { PooledGuide } from './guide-worker.js';

export interface GuideWorkerPoolOptions extends GuideWorkerData {
  /** Worker threads kept (≥ 1): the steady state. */
  numWorkers: number;
  /**
   * Worker threads that may be started beyond numWorkers so that a compile finds a worker
   * computing no masks (see GuideWorkerPool.prepare). Default numWorkers; 0 = never.
   */
  maxExtraWorkers?: number;
  /** A worker beyond numWorkers that has had no live guide, compile or pinned grammar for this long is stopped. Default 30 s. */
  idleRetireMs?: number;
  /**
   * How long a grammar prepare() answered for is pinned (neither evicted nor stopped with its
   * worker), so that the request's guide, made when the scheduler admits it, compiles nothing. Default 2 min: far beyond a request's usual wait in the queue (past it
   * the grammar is still kept unless 64 other specs have been used on that worker since); the
   * first guide made of it cuts the pin to 5 s.
   */
  preparedPinMs?: number;
  /** Called when a compile has to run on a worker with live guides (see GuideWorkerPoolStats.numCompilesOnBusyWorkers), with the load then: the executor logs it. */
  onCompileOnBusyWorker?: (load: readonly number[]) => void;
}

/** What the pool did with its threads (GET /executor's guidedDecoding). */
export interface GuideWorkerPoolStats {
  /** Threads now, numWorkers and the extra ones. */
  readonly numThreads: number;
  /** Threads started beyond numWorkers so far (for compiles, or to replicate a crowded spec's grammar). */
  readonly numExtraWorkersStarted: number;
  /** Threads stopped after their idle grace (or after they failed). */
  readonly numWorkersStopped: number;
  /** Compiles that had to run on a worker with live guides (every worker busy, the extra-thread bound reached): those guides' masks, hence steps, waited for them. */
  readonly numCompilesOnBusyWorkers: number;
}

/** Compiled grammars a worker keeps (GuidedGrammars' default cache size), pinned ones aside. */
const GRAMMAR_CACHE_SIZE = 64;

/** Past this many grammars on one worker, pinned ones are evicted too (least recently used first): pins never grow a worker's memory without bound. */
const GRAMMAR_CACHE_HARD_LIMIT = 4 * GRAMMAR_CACHE_SIZE;

/** How long a prepared grammar stays pinned after the first guide made of it (GuideWorkerPool.unpinAfterMake). */
const PIN_AFTER_MAKE_MS = 5_000;

/**
 * How long after prepare() answered a worker is kept free of compiles for the guide it answered
 * for (GrammarEntry.makeExpectedUntil): a request normally reaches its first step within
 * milliseconds of the answer; one aborted meanwhile never does, and must not keep a worker from
 * taking compiles for long.
 */
const MAKE_EXPECTED_MS = 10_000;

/**
 * How many more live guides than the least loaded worker every worker holding a spec's grammar
 * may carry before prepare() compiles a copy on an idle worker (so that a popular spec's masks
 * spread over threads instead of queueing on one).
 */
const BALANCE_SLACK = 4;

/** A worker's error reply as the error GuidedGrammars threw there (GrammarCompileError when it refused the grammar). */
function errorOf(reply: { error: string; refused?: true }): Error {
  return reply.refused ? new GrammarCompileError(reply.error) : new Error(reply.error);
}

/**
 * Guided decoding off the executor's main thread: worker threads, each with its own xgrammar
 * instance, token tables (built from tokenizer.json when the worker starts) and compiled-grammar
 * cache. A request's matcher lives on a worker holding its grammar; per step each worker gets
 * one message with its rows (accept the tokens sampled since, compute the next mask) and writes
 * the masks into a SharedArrayBuffer the engine reads.
 *
 * Compiles never share a thread with masks when that can be avoided. A worker's thread runs its
 * messages one after another, so a compile (seconds for a complex schema) on a worker holding
 * live guides makes their masks wait, and every engine step containing one of them (the whole
 * batch) waits with them. A compile therefore goes to an idle worker (no live guide, no compile
 * in flight, no guide expected after a prepare); if there is none, to a thread started for it
 * (at most maxExtraWorkers beyond numWorkers); only past that bound to the least loaded worker
 * (counted: numCompilesOnBusyWorkers). The compiling worker then holds the grammar and takes the spec's
 * requests. Threads beyond numWorkers are stopped once idle for idleRetireMs (a stopped worker's
 * grammars go with it, so a later prepare compiles again, off the mask path), so the steady
 * state is numWorkers threads. Compiled grammars cannot move between workers (xgrammar for
 * WebAssembly has no serialization), which is why placement follows them.
 */
export class GuideWorkerPool {
  private readonly workers: GuideWorker[] = [];
  private readonly data: GuideWorkerData;
  private readonly numWords: number;
  private readonly baseWorkers: number;
  private readonly maxThreads: number;
  private readonly idleRetireMs: number;
  private readonly preparedPinMs: number;
  private readonly onCompileOnBusyWorker: ((load: readonly number[]) => void) | undefined;
  private nextGuideId = 1;
  private nextWorkerIndex = 0;
  private retireTimer: NodeJS.Timeout | undefined;
  private numExtraWorkersStarted = 0;
  private numWorkersStopped = 0;
  private numCompilesOnBusyWorkers = 0;
  private closed = false;

  constructor(options: GuideWorkerPoolOptions) {
    if (!Number.isInteger(options.numWorkers) || options.numWorkers < 1) throw new RangeError(`GuideWorkerPool: numWorkers must be an integer ≥ 1, not ${options.numWorkers}`);
    const maxExtra = options.maxExtraWorkers ?? options.numWorkers;
    if (!Number.isInteger(maxExtra) || maxExtra < 0) throw new RangeError(`GuideWorkerPool: maxExtraWorkers must be an integer ≥ 0, not ${maxExtra}`);
    this.data = { tokenizerJsonPath: options.tokenizerJsonPath, vocabSize: options.vocabSize, stopTokenIds: [...options.stopTokenIds] };
    this.numWords = Math.ceil(options.vocabSize / 32);
    this.baseWorkers = options.numWorkers;
    this.maxThreads = options.numWorkers + maxExtra;
    this.idleRetireMs = options.idleRetireMs ?? 30_000;
    this.preparedPinMs = options.preparedPinMs ?? 120_000;
    this.onCompileOnBusyWorker = options.onCompileOnBusyWorker;
    for (let i = 0; i < options.numWorkers; i++) this.workers.push(this.newWorker());
  }

  /** Worker threads kept in the steady state (the option). */
  get numWorkers(): number {
    return this.baseWorkers;
  }

  /** Live guides per worker thread now, extra ones included (the load placement follows). */
  get load(): number[] {
    return this.workers.map((w) => w.numGuides);
  }

  /** The worker threads (indices into load) holding the compiled grammar of `spec` (compiles in flight not included). */
  holdersOf(spec: GuidedDecoding): number[] {
    const key = guidedDecodingKey(spec);
    return this.workers.flatMap((w, i) => (w.grammars.get(key)?.ready && !w.isFailed ? [i] : []));
  }

  get stats(): GuideWorkerPoolStats {
    return { numThreads: this.workers.length, numExtraWorkersStarted: this.numExtraWorkersStarted, numWorkersStopped: this.numWorkersStopped, numCompilesOnBusyWorkers: this.numCompilesOnBusyWorkers };
  }

  /**
   * Makes sure a worker holds the grammar of `spec`, compiled and with no other compile in flight
   * there, and keeps it until the spec's guides are made (the executor's prepare route: the
   * scheduler admits a guided request only once this has resolved, so that no engine step waits
   * for a compile). At once when such a worker holds it already (no message to any thread); else
   * it is compiled off the mask path (see the class comment). Then the grammar is pinned
   * (preparedPinMs, cut to PIN_AFTER_MAKE_MS by the first guide made of it): not evicted, its
   * worker not stopped; and until that guide is made (MAKE_EXPECTED_MS at most) no other
   * compile is placed on its worker. Rejects with xgrammar's message when the grammar cannot be
   * compiled.
   *
   * A worker holding the grammar but compiling another one would make the guide's make, hence
   * its step, wait for that compile: a copy is compiled on a thread free of masks (when there is
   * one) and the answer comes when either is free.
   *
   * Why one worker and sticky placement rather than warming every worker: compiling on all
   * workers costs N× the CPU and would make every busy worker's masks wait. The price: requests
   * of one spec share the worker(s) holding it. When every holder carries more than
   * BALANCE_SLACK guides over the least loaded worker, a copy is compiled on a thread free of
   * masks in the background, without delaying this answer; guide() then picks the least loaded
   * holder.
   */
  async prepare(spec: GuidedDecoding): Promise<void> {
    const key = guidedDecodingKey(spec);
    for (;;) {
      const holder = this.holderFor(key);
      if (!holder) {
        const worker = this.compileTarget(true)!;
        const { entry } = await this.compileOn(worker, key, worker.request({ type: 'prepare', spec }));
        this.pinOn(worker, key, entry);
        return;
      }
      const entry = holder.grammars.get(key)!;
      if (entry.ready && holder.numCompiling === 0) {
        this.pinOn(holder, key, entry);
        this.replicateIfCrowded(key, spec);
        return;
      }
      // Keep it meanwhile (pinOn also keeps the holder out of compile placement once it is free).
      this.pinOn(holder, key, entry);
      if (!entry.ready) {
        await entry.compiled; // this spec's own compile: rejects when xgrammar cannot compile it
        continue;
      }
      const copying = this.workers.some((w) => !w.isFailed && w.grammars.get(key)?.ready === false);
      const copyOn = copying ? undefined : this.compileTarget(false);
      const copy = copyOn ? this.compileOn(copyOn, key, copyOn.request({ type: 'prepare', spec })).then(() => undefined, () => undefined) : undefined;
      await Promise.race([holder.whenNotCompiling(), ...(copy ? [copy] : [])]);
    }
  }

  /**
   * A guide for one request, advanced over `outputTokenIds`: on the least loaded worker holding
   * its grammar (prepare() made sure one does); with none, the grammar is compiled by the make
   * itself, on the worker a prepare would have chosen.
   */
  async guide(spec: GuidedDecoding, outputTokenIds: readonly number[] = []): Promise<PooledGuide> {
    const key = guidedDecodingKey(spec);
    const holder = this.holderFor(key);
    const worker = holder ?? this.compileTarget(true)!;
    const guideId = this.nextGuideId++;
    worker.numGuides++;
    worker.lastBusyAt = performance.now();
    const message = { type: 'make' as const, guideId, spec, outputs: [...outputTokenIds] };
    let reply: GuideWorkerReply;
    if (holder) {
      this.touch(holder, key);
      reply = await holder.request(message);
    } else {
      reply = await this.compileOn(worker, key, worker.request(message)).then(
        (compiled) => compiled.reply,
        (err: unknown): GuideWorkerReply => ({ id: 0, error: err instanceof Error ? err.message : String(err), ...(err instanceof GrammarCompileError ? { refused: true as const } : {}) }),
      );
    }
    this.unpinAfterMake(key);
    if ('error' in reply) {
      worker.numGuides--;
      worker.lastBusyAt = performance.now();
      throw errorOf(reply);
    }
    return new PooledGuide(worker, guideId);
  }

  /**
   * The worker a guide of `key` goes to among those holding its grammar: compiled and not busy
   * compiling something else first (a make queues behind a compile), then the least loaded.
   */
  private holderFor(key: string): GuideWorker | undefined {
    const waitTier = (w: GuideWorker) => (w.grammars.get(key)!.ready ? 0 : 2) + (w.numCompiling > 0 ? 1 : 0);
    let best: GuideWorker | undefined;
    for (const w of this.workers) {
      if (w.isFailed || !w.grammars.has(key)) continue;
      if (!best || waitTier(w) < waitTier(best) || (waitTier(w) === waitTier(best) && w.numGuides < best.numGuides)) best = w;
    }
    return best;
  }

  /**
   * Where a compile goes: a worker with no live guide, no compile in flight and no guide expected
   * (its make would wait for the compile); else a new thread (up to maxThreads); else, when
   * `orBusy`, the least loaded worker (counted in numCompilesOnBusyWorkers and reported to
   * onCompileOnBusyWorker); else none.
   */
  private compileTarget(orBusy: boolean): GuideWorker | undefined {
    const now = performance.now();
    const free = this.workers.find((w) => w.isIdle && !w.expectsMakeAt(now));
    if (free) return free;
    if (this.workers.length < this.maxThreads && !this.closed) {
      const worker = this.newWorker();
      this.workers.push(worker);
      this.numExtraWorkersStarted++;
      this.startRetiring();
      return worker;
    }
    if (!orBusy) return undefined;
    this.numCompilesOnBusyWorkers++;
    this.onCompileOnBusyWorker?.(this.load);
    const healthy = this.workers.filter((w) => !w.isFailed);
    return (healthy.length > 0 ? healthy : this.workers).reduce((a, b) => (b.numGuides < a.numGuides || (b.numGuides === a.numGuides && b.numCompiling < a.numCompiling) ? b : a));
  }

  /**
   * Records a compile of `key` on `worker` (a prepare, or the make of a spec it does not hold),
   * whose reply is `sent`: the worker counts as compiling until it answers, then holds the
   * grammar; on an error it holds nothing of it (a make that compiled and then failed to advance
   * over the outputs has its grammar forgotten too, so that the worker keeps only what the pool
   * knows). Resolves with its entry and the reply, rejects with the reply's error.
   */
  private async compileOn(worker: GuideWorker, key: string, sent: Promise<GuideWorkerReply>): Promise<{ entry: GrammarEntry; reply: GuideWorkerReply }> {
    worker.beginCompile();
    const compiled = sent.then((reply) => {
      if ('error' in reply) throw errorOf(reply);
    });
    const entry: GrammarEntry = { compiled, ready: false, pinnedUntil: 0, makeExpectedUntil: 0 };
    this.remember(worker, key, entry);
    try {
      await compiled;
      entry.ready = true;
      this.evict(worker);
    } catch (err) {
      if (worker.grammars.get(key) === entry) worker.forget(key);
      throw err;
    } finally {
      worker.endCompile();
    }
    return { entry, reply: await sent };
  }

  /** In the background, a copy of `key`'s grammar on a thread free of masks when all its holders are crowded (see prepare()). */
  private replicateIfCrowded(key: string, spec: GuidedDecoding): void {
    const holders = this.workers.filter((w) => !w.isFailed && w.grammars.has(key));
    if (holders.some((w) => !w.grammars.get(key)!.ready)) return; // a copy is on its way
    const idlest = Math.min(...this.workers.filter((w) => !w.isFailed).map((w) => w.numGuides));
    if (Math.min(...holders.map((w) => w.numGuides)) <= idlest + BALANCE_SLACK) return;
    const worker = this.compileTarget(false);
    if (!worker) return; // no thread free of masks: the guides stay on the holders (uneven, never stalled)
    this.compileOn(worker, key, worker.request({ type: 'prepare', spec })).catch(() => undefined);
  }

  /** Pins `key` on `worker` and expects its guide there (see GrammarEntry); makes it the most recently used there. */
  private pinOn(worker: GuideWorker, key: string, entry: GrammarEntry): void {
    const now = performance.now();
    entry.pinnedUntil = Math.max(entry.pinnedUntil, now + this.preparedPinMs);
    entry.makeExpectedUntil = Math.max(entry.makeExpectedUntil, now + MAKE_EXPECTED_MS);
    this.touch(worker, key);
  }

  /**
   * A guide of `key` has been made: no other is expected, and its pins end soon (the other
   * requests a prepare answered for, when the scheduler held several under one prepare, join the
   * same step or the next ones; their makes find the worker busy with this guide).
   */
  private unpinAfterMake(key: string): void {
    const until = performance.now() + PIN_AFTER_MAKE_MS;
    for (const w of this.workers) {
      const entry = w.grammars.get(key);
      if (!entry) continue;
      entry.pinnedUntil = Math.min(entry.pinnedUntil, until);
      entry.makeExpectedUntil = 0;
    }
  }

  private touch(worker: GuideWorker, key: string): void {
    const entry = worker.grammars.get(key)!;
    worker.grammars.delete(key);
    worker.grammars.set(key, entry);
  }

  private remember(worker: GuideWorker, key: string, entry: GrammarEntry): void {
    worker.grammars.delete(key);
    worker.grammars.set(key, entry);
    this.evict(worker);
  }

  /**
   * Keeps a worker's grammars to GRAMMAR_CACHE_SIZE, least recently used first, skipping
   * compiles in flight and pinned grammars (up to GRAMMAR_CACHE_HARD_LIMIT, past which pinned
   * ones go too: the request then compiles in its first step, as it would have without a pin).
   */
  private evict(worker: GuideWorker): void {
    const now = performance.now();
    for (const keepPinned of [true, false]) {
      const limit = keepPinned ? GRAMMAR_CACHE_SIZE : GRAMMAR_CACHE_HARD_LIMIT;
      for (const [key, entry] of worker.grammars) {
        if (worker.grammars.size <= limit) break;
        if (entry.ready && !(keepPinned && entry.pinnedUntil > now)) worker.forget(key);
      }
    }
  }

  private newWorker(): GuideWorker {
    return new GuideWorker(this.data, this.nextWorkerIndex++, this.numWords);
  }

  /** While there are threads beyond numWorkers: checks every idleRetireMs / 2 (an unref'd timer: it keeps no process alive). */
  private startRetiring(): void {
    if (this.retireTimer || this.closed) return;
    this.retireTimer = setInterval(() => this.retireIdle(), Math.max(10, this.idleRetireMs / 2));
    this.retireTimer.unref();
  }

  /**
   * Stops threads beyond numWorkers that have been idle for idleRetireMs and hold no pinned
   * grammar, the longest idle first (which ones does not matter: any numWorkers serve alike,
   * only their cached grammars differ), and failed threads that hold no guide (their guides'
   * masks have failed; nothing is placed there any more).
   */
  private retireIdle(): void {
    const now = performance.now();
    for (const w of this.workers.filter((x) => x.isFailed && x.numGuides === 0)) this.stop(w);
    const idle = this.workers.filter((w) => w.isIdle && now - w.lastBusyAt >= this.idleRetireMs && !w.hasPinsAt(now)).sort((a, b) => a.lastBusyAt - b.lastBusyAt);
    while (this.workers.length > this.baseWorkers && idle.length > 0) this.stop(idle.shift()!);
    if (this.workers.length <= this.baseWorkers) {
      clearInterval(this.retireTimer);
      this.retireTimer = undefined;
    }
  }

  private stop(worker: GuideWorker): void {
    this.workers.splice(this.workers.indexOf(worker), 1);
    this.numWorkersStopped++;
    void worker.terminate('the worker was stopped');
  }

  /** Stops the workers; guides still held fail their next mask. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.retireTimer);
    this.retireTimer = undefined;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
