import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Logger } from '@deepinfer/observability';
import { LOGGER } from '@deepinfer/service-kit';
import { StreamRouter } from '@deepinfer/tokenizer-core';
import { DeltaPublisher } from './delta-publisher.js';
import { TokenizerMetrics } from './tokenizer.metrics.js';

/** How often idle streams are looked for; the idle limit itself is the router's (10 min by default). */
export const STREAM_SWEEP_INTERVAL_MS = 30_000;

/**
 * Drops streams that had no output for the router's idle timeout (a scheduler that died, a close
 * message that got lost), so nothing leaks: the api gets a final `error` delta for each, and the
 * scheduler an abort in case one of them still runs somewhere.
 */
@Injectable()
export class StreamSweeper implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(StreamRouter) private readonly router: StreamRouter,
    @Inject(DeltaPublisher) private readonly publisher: DeltaPublisher,
    @Inject(TokenizerMetrics) private readonly metrics: TokenizerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => this.sweep(), STREAM_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  sweep(): void {
    const { batches, requestIds } = this.router.sweepIdle();
    if (requestIds.length === 0) return;
    this.publisher.publishDeltas(batches);
    this.publisher.abort(requestIds, 'error');
    this.metrics.droppedStreams.inc({ reason: 'idle' }, requestIds.length);
    this.logger.warn('dropped idle streams', { count: requestIds.length, requestIds: requestIds.slice(0, 5) });
  }
}
