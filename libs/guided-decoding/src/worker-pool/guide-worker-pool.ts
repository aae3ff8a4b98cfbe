import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { guidedDecodingKey, type GuidedDecoding } from '@deepinfer/contracts';
import { GrammarCompileError } from '../grammar.js';
import type { GuideWorkerData, GuideWorkerReply, GuideWorkerRequest } from './guide-worker.protocol.js';

/** The worker's entry: the compiled file next to this one (from the sources under jest: the package's dist). */
function workerEntry(): URL {
  const here = new URL('./guide-worker.main.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  return new URL('../../dist/worker-pool/guide-worker.main.js', import.meta.url);
}

export interface GuideWorkerPoolOptions extends GuideWorkerData {
  /** Worker threads (≥ 1). */
  numWorkers: number;
}

/** Compiled grammars a worker keeps (GuidedGrammars' default cache size, which the workers use). */
const GRAMMAR_CACHE_SIZE = 64;

/**
 * How many more live guides than the least loaded worker a worker holding a request's grammar may
 * carry and still get the request (see GuideWorkerPool.prepare): sticky placement saves a compile
 * that stalls a step; beyond this the masks' load balance matters more.
 */
const BALANCE_SLACK = 4;

/** A worker's error reply as the error GuidedGrammars threw there (GrammarCompileError when it refused the grammar). */
function errorOf(reply: { error: string; refused?: true }): Error {
  return reply.refused ? new GrammarCompileError(reply.error) : new Error(reply.error);
}

/** A request message before it gets its id. */
type WithoutId<T> = T extends { id: number } ? Omit<T, 'id'> : never;

interface PendingRow {
  guide: PooledGuide;
  resolve: (mask: Uint32Array) => void;
  reject: (err: Error) => void;
}

/**
 * One guide worker seen from the main thread: its live guides (the load), the mask rows asked
 * for since the last flush (sent as one message per microtask turn: one message per worker per
 * step), and two shared mask buffers used in turn.
 */
class GuideWorker {
  readonly worker: Worker;
  numGuides = 0;
  /**
   * The specs (GuidedGrammars' cache key: the spec's JSON) whose grammar this worker has compiled
   * or is compiling, least recently used first: a mirror of the worker's own grammar cache (same
   * size, touched on the same messages: prepare and make), which placement follows.
   */
  readonly grammars = new Map<string, Promise<void>>();
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: GuideWorkerReply) => void>();
  private batch: PendingRow[] = [];
  /**
   * Two buffers in turn: a mask written in one stays valid while the next batch is computed
   * into the other (the executor runs one step at a time, so a step's masks are read before the
   * masks of the step after the next are asked for).
   */
  private readonly buffers: SharedArrayBuffer[] = [new SharedArrayBuffer(0), new SharedArrayBuffer(0)];
  private turn = 0;
  private failure: Error | undefined;

  constructor(data: GuideWorkerData, index: number, private readonly numWords: number) {
    this.worker = new Worker(workerEntry(), { workerData: data, name: `deepinfer-guide-worker-${index}` });
    this.worker.on('message', (reply: GuideWorkerReply) => {
      const done = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      done?.(reply);
    });
    const fail = (err: Error) => {
      this.failure ??= err;
      for (const done of this.waiting.values()) done({ id: 0, error: `guided decoding worker failed: ${err.message}` });
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
  }

  request(message: WithoutId<GuideWorkerRequest>): Promise<GuideWorkerReply> {
    if (this.failure) return Promise.resolve({ id: 0, error: `guided decoding worker failed: ${this.failure.message}` });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ ...message, id });
    });
  }

  dispose(guideId: number): void {
    this.numGuides--;
    if (!this.failure) this.worker.postMessage({ type: 'dispose', guideId } satisfies GuideWorkerRequest);
  }

  /** Queues a guide's mask; the rows queued in this turn of the event loop go as one message. */
  mask(guide: PooledGuide): Promise<Uint32Array> {
    return new Promise((resolve, reject) => {
      if (this.batch.push({ guide, resolve, reject }) === 1) queueMicrotask(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const rows = this.batch;
    this.batch = [];
    const bytes = rows.length * this.numWords * 4;
    const slot = this.turn;
    this.turn ^= 1;
    if (this.buffers[slot]!.byteLength < bytes) this.buffers[slot] = new SharedArrayBuffer(Math.max(bytes, 2 * this.buffers[slot]!.byteLength));
    const buffer = this.buffers[slot]!;
    const reply = await this.request({ type: 'masks', buffer, rows: rows.map((r) => ({ guideId: r.guide.guideId, accept: r.guide.takeAccepted() })) });
    rows.forEach((row, i) => {
      const result = 'rows' in reply ? reply.rows[i] : { error: 'error' in reply ? reply.error : 'guided decoding: no answer' };
      if (result && 'ms' in result) {
        row.guide.lastMaskMs = result.ms;
        row.resolve(new Uint32Array(buffer, i * this.numWords * 4, this.numWords));
      } else {
        row.reject(new Error(result?.error ?? 'guided decoding: no mask'));
      }
    });
  }

  terminate(): Promise<number> {
    this.failure ??= new Error('the pool is closed');
    return this.worker.terminate();
  }
}

/**
 * One guided request's grammar state, held by a worker: the executor's Guide. accept() only
 * records the token (the worker accepts it with the next mask request, one message per step).
 */
export class PooledGuide {
  /** Milliseconds the worker spent on the last mask (its accepts included). */
  lastMaskMs: number | undefined;
  private accepted: number[] = [];
  private disposed = false;

  constructor(
    private readonly worker: GuideWorker,
    readonly guideId: number,
  ) {}

  /** Records a sampled token; the worker's matcher accepts it before the next mask. */
  accept(tokenId: number): boolean {
    this.accepted.push(tokenId);
    return true;
  }

  /** @internal the tokens to accept before the next mask */
  takeAccepted(): number[] {
    const tokens = this.accepted;
    this.accepted = [];
    return tokens;
  }

  /** The tokens allowed next: a view into the worker's shared buffer (see GuideWorker.buffers). */
  nextMask(): Promise<Uint32Array> {
    if (this.disposed) return Promise.reject(new Error('guided decoding: the guide was disposed'));
    return this.worker.mask(this);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.worker.dispose(this.guideId);
  }
}

/**
 * Guided decoding off the executor's main thread: worker threads, each with its own xgrammar
 * instance, token tables (built from tokenizer.json when the worker starts) and compiled-grammar
 * cache. A request's matcher lives on the worker with the fewest live guides; per step each
 * worker gets one message with its rows (accept the tokens sampled since, compute the next
 * mask) and writes the masks into a SharedArrayBuffer the engine reads. Schema compilation
 * happens in the workers too, so a schema that takes seconds to compile blocks one worker,
 * never the event loop.
 */
export class GuideWorkerPool {
  private readonly workers: GuideWorker[];
  private nextGuideId = 1;

  constructor(options: GuideWorkerPoolOptions) {
    if (!Number.isInteger(options.numWorkers) || options.numWorkers < 1) throw new RangeError(`GuideWorkerPool: numWorkers must be an integer ≥ 1, not ${options.numWorkers}`);
    const data: GuideWorkerData = { tokenizerJsonPath: options.tokenizerJsonPath, vocabSize: options.vocabSize, stopTokenIds: [...options.stopTokenIds] };
    const numWords = Math.ceil(options.vocabSize / 32);
    this.workers = Array.from({ length: options.numWorkers }, (_, i) => new GuideWorker(data, i, numWords));
  }

  get numWorkers(): number {
    return this.workers.length;
  }

  /** Live guides per worker (the load the next guide's placement follows). */
  get load(): number[] {
    return this.workers.map((w) => w.numGuides);
  }

  /**
   * Compiles the grammar of `spec` ahead of its requests (the scheduler's prepare step, so that no
   * engine step waits for a compile): on no worker if one already holds it, else on the least
   * loaded worker; guide() then places the spec's requests on a worker that holds it.
   *
   * Why one worker and sticky placement rather than warming every worker: a worker compiles and
   * computes masks on one thread, so a compile (seconds for a complex schema) stalls the masks,
   * hence the steps, of every guided request placed on it; compiling on all workers would stall
   * every guided stream and cost N× the CPU. Compiling once on the least loaded worker stalls the
   * fewest. The price: requests of one schema share the worker(s) holding it (their masks are
   * computed one after another there), up to BALANCE_SLACK guides more than the least loaded
   * worker; past that a request goes to the least loaded worker, which compiles the grammar in
   * that step (a stall, once per worker and schema) and holds it from then on.
   */
  async prepare(spec: GuidedDecoding): Promise<void> {
    const key = guidedDecodingKey(spec);
    const holder = this.holdersOf(key)[0];
    if (holder) return this.touch(holder, key);
    const worker = this.leastLoaded(this.workers);
    const compiled = worker.request({ type: 'prepare', spec }).then((reply) => {
      if ('error' in reply) throw errorOf(reply);
    });
    this.remember(worker, key, compiled);
    compiled.catch(() => worker.grammars.get(key) === compiled && worker.grammars.delete(key));
    return compiled;
  }

  /**
   * A guide for one request, advanced over `outputTokenIds`: on the least loaded worker among
   * those that hold the spec's grammar and carry at most BALANCE_SLACK guides more than the least
   * loaded worker (see prepare()), else on the least loaded worker.
   */
  async guide(spec: GuidedDecoding, outputTokenIds: readonly number[] = []): Promise<PooledGuide> {
    const key = guidedDecodingKey(spec);
    const idlest = this.leastLoaded(this.workers);
    const holders = this.holdersOf(key).filter((w) => w.numGuides <= idlest.numGuides + BALANCE_SLACK);
    const worker = holders.length > 0 ? this.leastLoaded(holders) : idlest;
    const guideId = this.nextGuideId++;
    worker.numGuides++;
    const made = worker.request({ type: 'make', guideId, spec, outputs: [...outputTokenIds] });
    this.remember(
      worker,
      key,
      made.then(() => undefined),
    );
    const reply = await made;
    if ('error' in reply) {
      worker.numGuides--;
      throw errorOf(reply);
    }
    return new PooledGuide(worker, guideId);
  }

  private holdersOf(key: string): GuideWorker[] {
    return this.workers.filter((w) => w.grammars.has(key));
  }

  private leastLoaded(workers: readonly GuideWorker[]): GuideWorker {
    return workers.reduce((a, b) => (b.numGuides < a.numGuides ? b : a));
  }

  private async touch(worker: GuideWorker, key: string): Promise<void> {
    const compiled = worker.grammars.get(key)!;
    this.remember(worker, key, compiled);
    await compiled;
  }

  private remember(worker: GuideWorker, key: string, compiled: Promise<void>): void {
    worker.grammars.delete(key);
    worker.grammars.set(key, compiled);
    while (worker.grammars.size > GRAMMAR_CACHE_SIZE) worker.grammars.delete(worker.grammars.keys().next().value as string);
  }

  /** Stops the workers; guides still held fail their next mask. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
