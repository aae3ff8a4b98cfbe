import { Inject, Injectable } from '@nestjs/common';
import { Subjects, type AbortMessage } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import { MESSAGE_BUS } from '@deepinfer/service-kit';
import type { RoutedDeltaBatch } from '@deepinfer/tokenizer-core';

/** Sends what the StreamRouter decided: delta batches to api instances, aborts to the scheduler. */
@Injectable()
export class DeltaPublisher {
  constructor(@Inject(MESSAGE_BUS) private readonly bus: MessageBus) {}

  /** One DeltaBatchMessage per api instance. */
  publishDeltas(batches: readonly RoutedDeltaBatch[]): void {
    for (const batch of batches) this.bus.publish(batch.subject, batch.message);
  }

  /** One AbortMessage for all the given requests (every scheduler hears it; the owner acts). */
  abort(requestIds: readonly string[], reason: AbortMessage['reason']): void {
    if (requestIds.length === 0) return;
    const message: AbortMessage = { requestIds: [...requestIds], reason };
    this.bus.publish(Subjects.schedulerAbort, message);
  }
}
