export * from './json-schema-check.js';
export * from './grammar.js';
export { loadXGrammar } from './xgrammar.js';
export { GuideWorkerPool, PooledGuide, type GuideWorkerPoolOptions, type GuideWorkerPoolStats } from './worker-pool/guide-worker-pool.js';
export { GuideSource, type GuideSourceOptions } from './worker-pool/guide-source.js';
