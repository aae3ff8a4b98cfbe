import type { ExecutorRegistration } from '@deepinfer/contracts';
import type { SchedulerConfig } from '../scheduler-config.js';
import { DEFAULT_MAX_NUM_WAITING_PER_SEQ, type EngineLoopSettings } from './engine-loop-settings.js';

/**
 * The Scheduler's configuration for one executor: the service's settings clipped by what the
 * executor reported (its model's context length, its profiled step size), the model's EOS ids
 * and vocabulary size, and the model revision as the prefix-cache key (a new revision never hits
 * old blocks).
 */
export function schedulerConfigFor(settings: EngineLoopSettings, registration: ExecutorRegistration): SchedulerConfig {
  return {
    maxModelLen: Math.min(settings.maxModelLen ?? Infinity, registration.maxModelLen),
    maxNumBatchedTokens: Math.min(settings.maxNumBatchedTokens, registration.maxNumBatchedTokens),
    maxNumSeqs: settings.maxNumSeqs,
    enableChunkedPrefill: settings.enableChunkedPrefill,
    enablePrefixCaching: settings.enablePrefixCaching,
    eosTokenIds: registration.model.eosTokenIds,
    vocabSize: registration.model.vocabSize,
    modelCacheKey: registration.model.revision,
    maxNumWaitingRequests: settings.maxNumWaitingRequests ?? DEFAULT_MAX_NUM_WAITING_PER_SEQ * settings.maxNumSeqs,
    policy: settings.policy,
    clock: settings.clock,
  };
}
