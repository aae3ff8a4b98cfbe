import type { HealthReply, StatsReply } from '@deepinfer/contracts';

/**
 * The console's reading of the services' stats snapshots (Routes.stats). The snapshot's shape
 * belongs to the service that answers (the scheduler's EngineLoopStats, the executor's
 * ExecutorReport); a replica of another version may answer, so every field is read defensively:
 * a missing or mistyped one reads as null or 0, never throws.
 */

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export interface ServiceRow {
  readonly service: string;
  readonly instanceId: string;
  readonly status: string;
  readonly uptimeSeconds: number;
  readonly version: string;
}

export function serviceRow(reply: HealthReply): ServiceRow {
  return { service: reply.service, instanceId: reply.instanceId, status: reply.status, uptimeSeconds: reply.uptimeSeconds, version: reply.version };
}

export interface HistogramView {
  readonly upperBounds: number[];
  readonly counts: number[];
  readonly count: number;
  readonly sum: number;
}

export interface StepView {
  readonly stepId: number;
  readonly numRequests: number;
  readonly numPrefillTokens: number;
  readonly numDecodeTokens: number;
}

export interface SchedulerView {
  readonly instanceId: string;
  readonly executorId: string | null;
  readonly device: string | null;
  readonly model: string | null;
  readonly draining: boolean;
  readonly numRunningRequests: number;
  readonly numWaitingRequests: number;
  readonly stepsPerSecond: number;
  readonly numStepsTotal: number;
  readonly numPreemptionsTotal: number;
  readonly numFinishedRequestsTotal: number;
  readonly numPrefillTokensTotal: number;
  readonly numDecodeTokensTotal: number;
  readonly kvCache: { blockSize: number; numBlocksTotal: number; numBlocksUsed: number; numBlocksCached: number; numBlocksFree: number; usage: number };
  readonly prefixCache: { enabled: boolean; numQueryTokens: number; numHitTokens: number; hitRate: number };
  /** The last step that ran requests (a step may carry only finished ids), null before any. */
  readonly lastStep: StepView | null;
  /** The last steps, oldest first (batch size and the prefill/decode split of each). */
  readonly recentSteps: StepView[];
  readonly batchSizeHistogram: HistogramView;
  readonly numTokensPerStepHistogram: HistogramView;
}

function histogram(v: unknown): HistogramView {
  const h = obj(v);
  const numbers = (a: unknown) => (Array.isArray(a) ? a.map(num) : []);
  return { upperBounds: numbers(h?.['upperBounds']), counts: numbers(h?.['counts']), count: num(h?.['count']), sum: num(h?.['sum']) };
}

function step(v: unknown): StepView {
  const s = obj(v);
  return { stepId: num(s?.['stepId']), numRequests: num(s?.['numRequests']), numPrefillTokens: num(s?.['numPrefillTokens']), numDecodeTokens: num(s?.['numDecodeTokens']) };
}

export function schedulerView(reply: StatsReply): SchedulerView {
  const stats = reply.stats;
  const executor = obj(stats['executor']);
  const s = obj(stats['scheduler']);
  const kv = obj(s?.['kvCache']);
  const prefix = obj(s?.['prefixCache']);
  const recentSteps = Array.isArray(s?.['recentSteps']) ? (s['recentSteps'] as unknown[]).map(step) : [];
  const numBlocksTotal = num(kv?.['numBlocksTotal']);
  const numBlocksUsed = num(kv?.['numBlocksUsed']);
  const numBlocksCached = num(kv?.['numBlocksCached']);
  return {
    instanceId: reply.instanceId,
    executorId: str(executor?.['executorId']),
    device: str(executor?.['device']),
    model: str(executor?.['modelName']),
    draining: stats['draining'] === true,
    numRunningRequests: num(s?.['numRunningRequests']),
    numWaitingRequests: num(s?.['numWaitingRequests']),
    stepsPerSecond: num(stats['stepsPerSecond']),
    numStepsTotal: num(s?.['numStepsTotal']),
    numPreemptionsTotal: num(s?.['numPreemptionsTotal']),
    numFinishedRequestsTotal: num(s?.['numFinishedRequestsTotal']),
    numPrefillTokensTotal: num(s?.['numPrefillTokensTotal']),
    numDecodeTokensTotal: num(s?.['numDecodeTokensTotal']),
    kvCache: {
      blockSize: num(kv?.['blockSize']),
      numBlocksTotal,
      numBlocksUsed,
      numBlocksCached,
      numBlocksFree: Math.max(0, numBlocksTotal - numBlocksUsed - numBlocksCached),
      usage: num(kv?.['usage']),
    },
    prefixCache: { enabled: prefix?.['enabled'] === true, numQueryTokens: num(prefix?.['numQueryTokens']), numHitTokens: num(prefix?.['numHitTokens']), hitRate: num(prefix?.['hitRate']) },
    lastStep: [...recentSteps].reverse().find((r) => r.numRequests > 0) ?? null,
    recentSteps,
    batchSizeHistogram: histogram(s?.['batchSizeHistogram']),
    numTokensPerStepHistogram: histogram(s?.['numTokensPerStepHistogram']),
  };
}

export interface ExecutorView {
  readonly instanceId: string;
  readonly executorId: string | null;
  readonly status: string | null;
  readonly device: string | null;
  readonly backend: string | null;
  readonly threads: number | null;
  readonly model: { name: string | null; architecture: string | null; dtype: string | null; numLayers: number | null; vocabSize: number | null; maxModelLen: number | null } | null;
  /** The memory plan: weights and KV cache against the device's (and the host's) memory. */
  readonly memory: { weightsBytes: number; kvCacheBytes: number; deviceFreeBytes: number; deviceTotalBytes: number; hostFreeBytes: number; hostTotalBytes: number };
  readonly kvCache: { numBlocks: number; blockSize: number; bytesPerBlock: number; dtype: string | null } | null;
  readonly stepTimes: { count: number; p50Ms: number | null; p90Ms: number | null; p99Ms: number | null; maxMs: number | null; histogram: { upperBoundsMs: number[]; counts: number[] } };
  readonly decodeAhead: Record<string, unknown> | null;
  /** The backend's own run-time choices (CUDA: GEMM library, attention kernels, graphs). */
  readonly backendDetails: Record<string, unknown> | null;
}

export function executorView(reply: StatsReply): ExecutorView {
  const e = reply.stats;
  const model = obj(e['model']);
  const memory = obj(e['memory']);
  const kv = obj(e['kvCache']);
  const times = obj(e['stepTimes']);
  const hist = obj(times?.['histogram']);
  const numbers = (a: unknown) => (Array.isArray(a) ? a.map(num) : []);
  return {
    instanceId: reply.instanceId,
    executorId: str(e['executorId']),
    status: str(e['status']),
    device: str(e['device']),
    backend: str(e['backend']),
    threads: numOrNull(e['threads']),
    model: model
      ? { name: str(model['name']), architecture: str(model['architecture']), dtype: str(model['dtype']), numLayers: numOrNull(model['numLayers']), vocabSize: numOrNull(model['vocabSize']), maxModelLen: numOrNull(model['maxModelLen']) }
      : null,
    memory: {
      weightsBytes: num(memory?.['weightsBytes']),
      kvCacheBytes: num(memory?.['kvCacheBytes']),
      deviceFreeBytes: num(memory?.['deviceFreeBytes']),
      deviceTotalBytes: num(memory?.['deviceTotalBytes']),
      hostFreeBytes: num(memory?.['hostFreeBytes']),
      hostTotalBytes: num(memory?.['hostTotalBytes']),
    },
    kvCache: kv ? { numBlocks: num(kv['numBlocks']), blockSize: num(kv['blockSize']), bytesPerBlock: num(kv['bytesPerBlock']), dtype: str(kv['dtype']) } : null,
    stepTimes: {
      count: num(times?.['count']),
      p50Ms: numOrNull(times?.['p50Ms']),
      p90Ms: numOrNull(times?.['p90Ms']),
      p99Ms: numOrNull(times?.['p99Ms']),
      maxMs: numOrNull(times?.['maxMs']),
      histogram: { upperBoundsMs: numbers(hist?.['upperBoundsMs']), counts: numbers(hist?.['counts']) },
    },
    decodeAhead: obj(e['decodeAhead']) ?? null,
    backendDetails: obj(e['backendDetails']) ?? null,
  };
}
