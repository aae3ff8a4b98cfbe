import { readFile } from 'node:fs/promises';
import type { GuidedDecoding } from '@deepinfer/contracts';
import { GuidedGrammars, vocabularyFromTokenizerJson, type GuideMatcher } from '../grammar.js';
import { GuideWorkerPool, type PooledGuide } from './guide-worker-pool.js';

export interface GuideSourceOptions {
  /** Worker threads; 0 = matchers on the calling thread's event loop. */
  numWorkers: number;
  tokenizerJsonPath: string;
  vocabSize: number;
  stopTokenIds: readonly number[];
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

  /** Live guides per worker thread (empty on the main-thread path or before the first guide). */
  get workerLoad(): number[] {
    return this.pool?.load ?? [];
  }

  /** A guide for one request, advanced over the outputs it already has. */
  async guide(spec: GuidedDecoding, outputTokenIds: readonly number[] = []): Promise<GuideMatcher | PooledGuide> {
    const o = this.options;
    if (o.numWorkers > 0) {
      this.pool ??= new GuideWorkerPool({ numWorkers: o.numWorkers, tokenizerJsonPath: o.tokenizerJsonPath, vocabSize: o.vocabSize, stopTokenIds: [...o.stopTokenIds] });
      return this.pool.guide(spec, outputTokenIds);
    }
    this.grammars ??= (async () => {
      const json = JSON.parse(await readFile(o.tokenizerJsonPath, 'utf8')) as unknown;
      return GuidedGrammars.create(vocabularyFromTokenizerJson(json, o.vocabSize), o.stopTokenIds);
    })();
    this.grammars.catch(() => (this.grammars = undefined)); // a later request tries again
    return (await this.grammars).matcher(spec, outputTokenIds);
  }

  /** Stops the workers (guides still held fail their next mask) or frees the tables. */
  async close(): Promise<void> {
    await this.pool?.close();
    const grammars = this.grammars;
    this.grammars = undefined;
    (await grammars?.catch(() => undefined))?.dispose();
  }
}
