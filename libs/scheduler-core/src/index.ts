// Public API of @deepinfer/scheduler-core: continuous batching, the KV block manager and
// automatic prefix caching, framework-free. The step contract (SchedulerOutput, StepResult,
// StepOutputs) is mirrored by @deepinfer/contracts.
export { Scheduler } from './scheduler.js';
export { validateSchedulerConfig, type SchedulerConfig, type ExecutorCapacity } from './scheduler-config.js';
export type { SubmitRequest, SubmitResult, SubmitRefusalReason } from './submit-request.js';
export type { SamplingParams, ExecutorSamplingParams } from './sampling-params.js';
export type { SchedulerOutput, NewRequestData, CachedRequestData } from './scheduler-output.js';
export type { StepResult, SampledToken, TokenLogprobs } from './step-result.js';
export type { StepOutputs, RequestOutput, RequestMetrics } from './step-outputs.js';
export type { SchedulerStats } from './scheduler-stats.js';
export { Histogram, type HistogramData } from './histogram.js';
export { RequestStatus, isFinished, type FinishReason } from './request-status.js';
export { Request, type RequestInit, type RequestTimestamps } from './request.js';
export type { SchedulingPolicy, RequestQueue } from './scheduling-policy.js';
export { FcfsPolicy } from './fcfs-policy.js';
export { KvCacheManager, type KvCacheManagerOptions, type CachedPrefix } from './kv-cache-manager.js';
export { BlockPool } from './block-pool.js';
export { KvBlock } from './kv-block.js';
export { FreeBlockQueue } from './free-block-queue.js';
export { BlockHasher, type BlockHash } from './block-hasher.js';
