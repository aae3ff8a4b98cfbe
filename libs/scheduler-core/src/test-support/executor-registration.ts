import type { ExecutorRegistration } from '@deepinfer/contracts';

/** Vocabulary size of testRegistration's model. */
export const TEST_VOCAB = 1000;

/** An executor registration for EngineLoop tests: 64 blocks of 4 tokens, a 128-token model of TEST_VOCAB ids. */
export function testRegistration(overrides: Partial<ExecutorRegistration> = {}): ExecutorRegistration {
  return {
    executorId: 'exec-1',
    epoch: 'e1',
    numBlocks: 64,
    blockSize: 4,
    maxModelLen: 128,
    maxNumBatchedTokens: 64,
    model: { name: 'fake', revision: 'rev1', vocabSize: TEST_VOCAB, eosTokenIds: [], dtype: 'float32' },
    device: 'cpu',
    stepSubject: 'step.exec-1',
    ...overrides,
  } as ExecutorRegistration;
}
