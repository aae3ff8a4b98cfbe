import { Inject, Injectable } from '@nestjs/common';
import { Routes, type AbortMessage } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import type { Logger } from '@deepinfer/observability';
import { LOGGER, MESSAGE_BUS } from '@deepinfer/service-kit';
import type { RoutedDeltaBatch } from '@deepinfer/tokenizer-core';

/** Sends what the StreamRouter decided: delta batches to api instances, aborts to the scheduler. */
@Injectable()
export class DeltaPublisher {
  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * One DeltaBatchMessage per api instance, on the deltas subject its StreamOpen named (one of
   * Routes.apiDeltas'; a stream naming another subject gets nothing, once logged).
   */
  publishDeltas(batches: readonly RoutedDeltaBatch[]): void {
    for (const batch of batches) {
      let to;
      try {
        to = Routes.apiDeltas.fromSubject(batch.subject);
      } catch (err) {
        this.logger.warn('deltas not sent: the stream names no api deltas subject', { subject: batch.subject, err });
        continue;
      }
      this.bus.emit(to, batch.message);
    }
  }

  /** One AbortMessage for all the given requests (every scheduler hears it; the owner acts). */
  abort(requestIds: readonly string[], reason: AbortMessage['reason']): void {
    if (requestIds.length === 0) return;
    const message: AbortMessage = { requestIds: [...requestIds], reason };
    this.bus.emit(Routes.schedulerAbort, message);
  }
}
