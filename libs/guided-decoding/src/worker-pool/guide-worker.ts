import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { GuideWorkerData, GuideWorkerReply, GuideWorkerRequest } from './guide-worker.protocol.js';

/** The worker's entry: the compiled file next to this one (from the sources under jest: the package's dist). */
function workerEntry(): URL {
  const here = new URL('./guide-worker.main.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  return new URL('../../dist/worker-pool/guide-worker.main.js', import.meta.url);
}

/** A request message before it gets its id. */
export type WithoutId<T> = T extends { id: number } ? Omit<T, 'id'> : never;

/** A compiled grammar a worker holds or is compiling, as the pool sees it (GuideWorker.grammars). */
export interface GrammarEntry {
  /** Settles once the worker has compiled it; rejects with xgrammar's message when it could not. */
  readonly compiled: Promise<void>;
  /** The compile has succeeded: a make of its spec on this worker compiles nothing. */
  ready: boolean;
  /**
   * performance.now() until which the pool keeps it: GuideWorkerPool.prepare() told the executor
   * that the spec is compiled, so that neither the pool's eviction nor a worker's retirement may
   * drop it before the request's guide is made.
   */
  pinnedUntil: number;
  /**
   * performance.now() until which a guide of it is expected here: prepare() answered for it and
   * no guide of it has been made since (0 then). While it lasts no compile is placed on this
   * worker, which the guide's make (its request's first step) would wait for.
   */
  makeExpectedUntil: number;
}

interface PendingRow {
  guide: PooledGuide;
  resolve: (mask: Uint32Array) => void;
  reject: (err: Error) => void;
}

/**
 * One guide worker seen from the main thread: its live guides and compiles in flight (what the
 * pool's placement follows), the grammars it holds, the mask rows asked for since the last
 * flush (sent as one message per microtask turn: one message per worker per step), and two
 * shared mask buffers used in turn.
 */
export class GuideWorker {
  readonly worker: Worker;
  /** Live guides: requests whose masks this worker computes every step. */
  numGuides = 0;
  /** Compiles in flight here (a prepare, or the make of a spec it did not hold): seconds each, during which its masks would wait. */
  private numCompilesInFlight = 0;
  /** Resolved when the compiles in flight have ended (whenNotCompiling). */
  private compilesEnded: (() => void)[] = [];
  /** performance.now() of the last change to numGuides or numCompiling (an idle worker has been idle since). */
  lastBusyAt = performance.now();
  /**
   * The grammars this worker has compiled or is compiling, keyed by guidedDecodingKey, least
   * recently used first. The worker's own cache is unbounded and holds exactly these: the pool
   * evicts with forget(), so that a pinned entry stays.
   */
  readonly grammars = new Map<string, GrammarEntry>();
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

  /** The thread has died or was stopped: nothing is placed here any more. */
  get isFailed(): boolean {
    return this.failure !== undefined;
  }

  get numCompiling(): number {
    return this.numCompilesInFlight;
  }

  beginCompile(): void {
    this.numCompilesInFlight++;
    this.lastBusyAt = performance.now();
  }

  endCompile(): void {
    this.numCompilesInFlight--;
    this.lastBusyAt = performance.now();
    if (this.numCompilesInFlight > 0) return;
    const waiting = this.compilesEnded;
    this.compilesEnded = [];
    for (const resolve of waiting) resolve();
  }

  /** Resolves once no compile is in flight here (at once if none is). */
  whenNotCompiling(): Promise<void> {
    if (this.numCompilesInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.compilesEnded.push(resolve));
  }

  /** No live guide and no compile: a compile placed here delays no mask. */
  get isIdle(): boolean {
    return !this.isFailed && this.numGuides === 0 && this.numCompilesInFlight === 0;
  }

  /** Whether it holds a grammar pinned at `now` (see GrammarEntry.pinnedUntil). */
  hasPinsAt(now: number): boolean {
    for (const entry of this.grammars.values()) if (entry.pinnedUntil > now) return true;
    return false;
  }

  /** Whether a guide is expected here at `now` (see GrammarEntry.makeExpectedUntil). */
  expectsMakeAt(now: number): boolean {
    for (const entry of this.grammars.values()) if (entry.makeExpectedUntil > now) return true;
    return false;
  }

  request(message: WithoutId<GuideWorkerRequest>): Promise<GuideWorkerReply> {
    if (this.failure) return Promise.resolve({ id: 0, error: `guided decoding worker failed: ${this.failure.message}` });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ ...message, id });
    });
  }

  /** Drops a grammar here and in the worker's cache (matchers made from it keep their state). */
  forget(key: string): void {
    this.grammars.delete(key);
    if (!this.failure) this.worker.postMessage({ type: 'forget', key } satisfies GuideWorkerRequest);
  }

  dispose(guideId: number): void {
    this.numGuides--;
    this.lastBusyAt = performance.now();
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

  terminate(reason = 'the pool is closed'): Promise<number> {
    this.failure ??= new Error(reason);
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
