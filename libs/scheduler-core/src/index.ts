// Public API of @deepinfer/scheduler-core: continuous batching, the KV block manager and
// automatic prefix caching, framework-free. The wire types it produces and consumes
// (SchedulerOutput, StepResult, StepOutputsMessage, ExecutorSamplingParams, FinishReason, …) are
// defined once, in @deepinfer/contracts; import them from there.
export { Scheduler } from './scheduler.js';
export { validateSchedulerConfig, type SchedulerConfig, type ExecutorCapacity } from './scheduler-config.js';
export type { SubmitRequest, SubmitResult, SubmitRefusalReason } from './submit-request.js';
export type { RequestSamplingParams } from './sampling-params.js';
export type { SchedulerStats, StepSummary } from './scheduler-stats.js';
export { RECENT_STEPS } from './scheduler-stats.js';
export { Histogram, type HistogramData } from './histogram.js';
export { RequestStatus, isFinished } from './request-status.js';
export { Request, type RequestInit, type RequestTimestamps } from './request.js';
export type { SchedulingPolicy, RequestQueue } from './scheduling-policy.js';
export { FcfsPolicy } from './fcfs-policy.js';
export { KvCacheManager, type KvCacheManagerOptions, type CachedPrefix } from './kv-cache-manager.js';
export { BlockPool } from './block-pool.js';
export { KvBlock } from './kv-block.js';
export { FreeBlockQueue } from './free-block-queue.js';
export { BlockHasher, prefixBlockHashes, rootExtraKey, type BlockHash } from './block-hasher.js';
export type { PrefixCacheListener } from './prefix-cache-listener.js';
// Test support (the FakeExecutor stand-in) is not here: it is the separate entry point
// @deepinfer/scheduler-core/testing, which only tests may import (the module-boundaries lint rule).
// The scheduler service's engine: executor sessions and the step loop, transport behind ports.
export { EngineLoop, OUT_OF_STEP_ID } from './engine-loop/engine-loop.js';
export type { EngineLoopPorts, EngineLoopObserver, EngineLoopLogger, StepObservation, GuidePreparation } from './engine-loop/engine-loop-ports.js';
export { DEFAULT_STEP_TIMEOUT_MS, DEFAULT_MAX_NUM_WAITING_PER_SEQ, DEFAULT_EXECUTOR_SILENCE_MS, type EngineLoopSettings } from './engine-loop/engine-loop-settings.js';
export type { EngineLoopStats, ExecutorInfo } from './engine-loop/engine-loop-stats.js';
export type { LoopOutcome } from './engine-loop/submit-outcome.js';
export { schedulerConfigFor } from './engine-loop/scheduler-config-for.js';
