import { Scheduler } from '../scheduler.js';
import type { SchedulerConfig } from '../scheduler-config.js';
import { FakeExecutor, type FakeExecutorOptions } from '../stand-in/fake-executor.js';

export interface FixtureOptions extends Partial<SchedulerConfig> {
  readonly numBlocks?: number;
  readonly blockSize?: number;
  readonly vocabSize?: number;
  readonly sampleOverride?: FakeExecutorOptions['sampleOverride'];
}

/** A scheduler and a FakeExecutor sharing one KV capacity, with small test defaults. */
export function createFixture(options: FixtureOptions = {}): { scheduler: Scheduler; executor: FakeExecutor; config: SchedulerConfig } {
  const numBlocks = options.numBlocks ?? 256;
  const blockSize = options.blockSize ?? 4;
  const config: SchedulerConfig = {
    maxNumBatchedTokens: 64,
    maxNumSeqs: 16,
    maxModelLen: 256,
    enableChunkedPrefill: true,
    enablePrefixCaching: true,
    eosTokenIds: [],
    modelCacheKey: 'test-model@rev1',
    ...options,
    // One vocabulary for the scheduler's checks and the fake model's sampling.
    vocabSize: options.vocabSize ?? 1000,
  };
  const scheduler = new Scheduler(config, { numBlocks, blockSize });
  const executor = new FakeExecutor({ numBlocks, blockSize, vocabSize: config.vocabSize, sampleOverride: options.sampleOverride });
  return { scheduler, executor, config };
}
