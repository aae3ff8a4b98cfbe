import { readFile } from 'node:fs/promises';
import type { GuidedDecoding } from '@deepinfer/contracts';
import { GuidedGrammars, vocabularyFromTokenizerJson, type GuideMatcher } from '../grammar.js';
import { GuideWorkerPool, type GuideWorkerPoolStats, type PooledGuide } from './guide-worker-pool.js';

export interface GuideSourceOptions {
  /** Worker threads; 0 = matchers on the calling thread's event loop. */
  numWorkers: number;
  tokenizerJsonPath: string;
  vocabSize: number;
  stopTokenIds: readonly number[];
  /** With workers: called when a compile has to run on a worker computing masks (GuideWorkerPoolOptions.onCompileOnBusyWorker). */
  onCompileOnBusyWorker?: (load: readonly number[]) => void;
}

/**
 * Where an executor's guides come from: worker threads (GuideWorkerPool) or, with 0 workers,
 * GuidedGrammars on this thread. Either way the token tables are built on the first guide
 * (lazily), and the guides behave alike (same masks; accept, nextMask, lastMaskMs, dispose).
 */
export class GuideSource {
  private pool: GuideWorkerPool | undefined;
  private grammars: Promise<GuidedGrammars> | undefined;

  constructor(private readonly options: GuideSourceOptions) {
    if (!Number.isInteger(options.numWorkers) || options.numWorkers < 0) throw new RangeError(`GuideSource: numWorkers must be an integer ≥ 0, not ${options.numWorkers}`);
  }

  /** Live guides per worker thread, extra compile threads included (empty on the main-thread path or before the first guide). */
  get workerLoad(): number[] {
    return this.pool?.load ?? [];
  }

  /** What the worker pool did with its threads (undefined on the main-thread path or before the first guide). */
  get workerStats(): GuideWorkerPoolStats | undefined {
    return this.pool?.stats;
  }

  /** A guide for one request, advanced over the outputs it already has. */
  async guide(spec: GuidedDecoding, outputTokenIds: readonly number[] = []): Promise<GuideMatcher | PooledGuide> {
    const pool = this.workerPool();
    if (pool) return pool.guide(spec, outputTokenIds);
    return (await this.mainThreadGrammars()).matcher(spec, outputTokenIds);
  }

  /**
   * Compiles the grammar of `spec` into the cache a later guide() of it uses (building the token
   * tables first on the first call), without making a matcher: the executor's prepare route, so
   * that the step that admits the request does not wait for the compile. With workers it runs on
   * one computing no masks, and the grammar is kept until the guide is made
   * (GuideWorkerPool.prepare says which and why); with 0 workers it runs on this event loop,
   * which then blocks for the compile (as guide() would; a grammar evicted from that cache before
   * its guide is made blocks it again). Rejects with GrammarCompileError (xgrammar's message)
   * when the grammar cannot be compiled, with another error when no grammar can be had here at
   * all (the token tables cannot be built, a worker died).
   */
  async prepare(spec: GuidedDecoding): Promise<void> {
    const pool = this.workerPool();
    if (pool) return pool.prepare(spec);
    await (await this.mainThreadGrammars()).compile(spec);
  }

  private workerPool(): GuideWorkerPool | undefined {
    const o = this.options;
    if (o.numWorkers === 0) return undefined;
    this.pool ??= new GuideWorkerPool({ numWorkers: o.numWorkers, tokenizerJsonPath: o.tokenizerJsonPath, vocabSize: o.vocabSize, stopTokenIds: [...o.stopTokenIds], onCompileOnBusyWorker: o.onCompileOnBusyWorker });
    return this.pool;
  }

  private mainThreadGrammars(): Promise<GuidedGrammars> {
    const o = this.options;
    if (!this.grammars) {
      this.grammars = (async () => {
        const json = JSON.parse(await readFile(o.tokenizerJsonPath, 'utf8')) as unknown;
        return GuidedGrammars.create(vocabularyFromTokenizerJson(json, o.vocabSize), o.stopTokenIds);
      })();
      this.grammars.catch(() => (this.grammars = undefined)); // a later request tries again
    }
    return this.grammars;
  }

  /** Stops the workers (guides still held fail their next mask) or frees the tables. */
  async close(): Promise<void> {
    await this.pool?.close();
    const grammars = this.grammars;
    this.grammars = undefined;
    (await grammars?.catch(() => undefined))?.dispose();
  }
}
