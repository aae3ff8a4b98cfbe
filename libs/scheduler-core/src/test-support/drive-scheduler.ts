import type { FinishReason, SchedulerOutput, StepOutputsMessage } from '@deepinfer/contracts';
import type { Scheduler } from '../scheduler.js';
import { checkKvInvariants } from './check-kv-invariants.js';
import type { FakeExecutor } from '../stand-in/fake-executor.js';

/** Everything a request produced, gathered from the step outputs. */
export interface CollectedOutput {
  readonly tokenIds: number[];
  finishReason: FinishReason | undefined;
  stopTokenId: number | undefined;
  numCachedTokens: number;
  numLogprobs: number;
}

export interface DriveOptions {
  /** Per-step limits to assert. */
  readonly maxNumSeqs?: number;
  readonly maxNumBatchedTokens?: number;
  readonly checkInvariants?: boolean;
  readonly maxSteps?: number;
  /** Called after each step, e.g. to submit or abort mid-run. */
  readonly afterStep?: (step: SchedulerOutput, outputs: StepOutputsMessage) => void;
}

/** Runs schedule → execute → update until the scheduler has no work; returns outputs by request id. */
export function driveScheduler(
  scheduler: Scheduler,
  executor: FakeExecutor,
  options: DriveOptions = {},
  collected = new Map<string, CollectedOutput>(),
): Map<string, CollectedOutput> {
  const maxSteps = options.maxSteps ?? 100_000;
  for (let n = 0; scheduler.hasWork(); n++) {
    if (n >= maxSteps) throw new Error(`no completion after ${maxSteps} steps`);
    const step = scheduler.schedule();
    const numSeqs = step.newRequests.length + step.cachedRequests.requestIds.length;
    if (options.maxNumSeqs !== undefined && (numSeqs > options.maxNumSeqs || scheduler.numRunningRequests > options.maxNumSeqs)) {
      throw new Error(`step ${step.stepId}: ${numSeqs} sequences, ${scheduler.numRunningRequests} running > ${options.maxNumSeqs}`);
    }
    if (options.maxNumBatchedTokens !== undefined && step.totalNumScheduledTokens > options.maxNumBatchedTokens) {
      throw new Error(`step ${step.stepId}: ${step.totalNumScheduledTokens} tokens > ${options.maxNumBatchedTokens}`);
    }
    const outputs = scheduler.update(executor.execute(step));
    collectOutputs(outputs, collected);
    if (options.checkInvariants) checkKvInvariants(scheduler.kvCacheManager);
    options.afterStep?.(step, outputs);
  }
  return collected;
}

/**
 * The same with asynchronous scheduling, as the service's loop runs it: while the oldest step is
 * "at the executor", the next one is scheduled ahead (scheduleAhead), then the oldest is executed
 * and answered. The FakeExecutor runs steps in the order they were sent, as the real one does.
 * Returns outputs by request id; `numAheadSteps` in the stats says how many steps went ahead.
 */
export function driveSchedulerAsync(
  scheduler: Scheduler,
  executor: FakeExecutor,
  options: DriveOptions = {},
  collected = new Map<string, CollectedOutput>(),
  stats = { numAheadSteps: 0, numSteps: 0 },
): Map<string, CollectedOutput> {
  const maxSteps = options.maxSteps ?? 100_000;
  const inFlight: SchedulerOutput[] = [];
  const check = (step: SchedulerOutput) => {
    const numSeqs = step.newRequests.length + step.cachedRequests.requestIds.length;
    if (options.maxNumSeqs !== undefined && numSeqs > options.maxNumSeqs) throw new Error(`step ${step.stepId}: ${numSeqs} sequences > ${options.maxNumSeqs}`);
    if (options.maxNumBatchedTokens !== undefined && step.totalNumScheduledTokens > options.maxNumBatchedTokens) {
      throw new Error(`step ${step.stepId}: ${step.totalNumScheduledTokens} tokens > ${options.maxNumBatchedTokens}`);
    }
    stats.numSteps++;
  };
  for (let n = 0; inFlight.length > 0 || scheduler.hasWork(); n++) {
    if (n >= maxSteps) throw new Error(`no completion after ${maxSteps} steps`);
    if (inFlight.length === 0) {
      const step = scheduler.schedule();
      check(step);
      inFlight.push(step);
    }
    if (inFlight.length === 1 && scheduler.hasWork()) {
      const ahead = scheduler.scheduleAhead();
      if (ahead) {
        check(ahead);
        stats.numAheadSteps++;
        inFlight.push(ahead);
      }
    }
    const step = inFlight.shift()!;
    const outputs = scheduler.update(executor.execute(step));
    collectOutputs(outputs, collected);
    if (options.checkInvariants) checkKvInvariants(scheduler.kvCacheManager);
    options.afterStep?.(step, outputs);
  }
  return collected;
}

export function collectOutputs(outputs: StepOutputsMessage, collected: Map<string, CollectedOutput>): void {
  for (const output of outputs.outputs) {
    let entry = collected.get(output.requestId);
    if (!entry) {
      entry = { tokenIds: [], finishReason: undefined, stopTokenId: undefined, numCachedTokens: 0, numLogprobs: 0 };
      collected.set(output.requestId, entry);
    }
    if (entry.finishReason !== undefined) throw new Error(`output for ${output.requestId} after it finished`);
    entry.tokenIds.push(...output.newTokenIds);
    entry.finishReason = output.finishReason;
    entry.stopTokenId = output.stopTokenId;
    entry.numCachedTokens = output.numCachedTokens;
    entry.numLogprobs += output.logprobs?.length ?? 0;
    if (output.numOutputTokens !== entry.tokenIds.length) {
      throw new Error(`${output.requestId}: numOutputTokens ${output.numOutputTokens} but ${entry.tokenIds.length} tokens seen`);
    }
  }
}
