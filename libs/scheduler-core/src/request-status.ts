import type { FinishReason } from '@deepinfer/contracts';

/**
 * A request's lifecycle. Ordered so that each phase is one comparison: waiting (new or preempted)
 * < running < finished; every status ≥ FINISHED_STOPPED is final.
 */
export const RequestStatus = {
  /**
   * Accepted, held out of the waiting queue until the executor has compiled its grammar (a guided
   * request, vLLM's WAITING_FOR_FSM): holds no KV blocks, is never scheduled.
   */
  WAITING_FOR_GRAMMAR: -1,
  WAITING: 0,
  /** Back in the waiting queue after preemption; resumes by recomputing its tokens. */
  PREEMPTED: 1,
  RUNNING: 2,
  FINISHED_STOPPED: 3,
  FINISHED_LENGTH: 4,
  FINISHED_ABORTED: 5,
  FINISHED_ERROR: 6,
} as const;
export type RequestStatus = (typeof RequestStatus)[keyof typeof RequestStatus];

export function isFinished(status: RequestStatus): boolean {
  return status >= RequestStatus.FINISHED_STOPPED;
}


const FINISH_REASON_BY_STATUS: Readonly<Record<number, FinishReason>> = {
  [RequestStatus.FINISHED_STOPPED]: 'stop',
  [RequestStatus.FINISHED_LENGTH]: 'length',
  [RequestStatus.FINISHED_ABORTED]: 'abort',
  [RequestStatus.FINISHED_ERROR]: 'error',
};

const STATUS_BY_FINISH_REASON: Readonly<Record<FinishReason, RequestStatus>> = {
  stop: RequestStatus.FINISHED_STOPPED,
  length: RequestStatus.FINISHED_LENGTH,
  abort: RequestStatus.FINISHED_ABORTED,
  error: RequestStatus.FINISHED_ERROR,
};

export function finishReasonOf(status: RequestStatus): FinishReason | undefined {
  return FINISH_REASON_BY_STATUS[status];
}

export function finishedStatusOf(reason: FinishReason): RequestStatus {
  return STATUS_BY_FINISH_REASON[reason];
}
