import { Inject, Injectable } from '@nestjs/common';
import type { StepOutputsMessage } from '@deepinfer/contracts';
import type { Logger } from '@deepinfer/observability';
import { LOGGER } from '@deepinfer/service-kit';
import { StreamRouter } from '@deepinfer/tokenizer-core';
import { DeltaPublisher } from './delta-publisher.js';
import { TokenizerMetrics } from './tokenizer.metrics.js';

/**
 * Routes.tokenizerOutputs (this instance; wired in TokenizerRoutes): the scheduler sends each
 * step's outputs for the streams held here. Per step: one DeltaBatch per api instance, and at most one
 * AbortMessage (reason `stop`) for the requests a stop string ended.
 *
 * The handler is synchronous: the bus runs handlers in arrival order, so steps are detokenized
 * in the order the scheduler sent them (NATS keeps one publisher's order on one subject).
 */
@Injectable()
export class OutputsHandler {
  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(StreamRouter) private readonly router: StreamRouter,
    @Inject(DeltaPublisher) private readonly publisher: DeltaPublisher,
    @Inject(TokenizerMetrics) private readonly metrics: TokenizerMetrics,
  ) {}

  onStep(step: StepOutputsMessage): void {
    const end = this.metrics.detokenizeDuration.startTimer({ kind: 'step' });
    const routing = this.router.route(step);
    end();
    this.publisher.publishDeltas(routing.batches);
    this.publisher.abort(routing.stopAbortRequestIds, 'stop');
    let numTokens = 0;
    for (const batch of routing.batches) for (const delta of batch.message.deltas) numTokens += delta.tokenIds.length;
    this.metrics.detokenizedTokens.inc(numTokens);
    if (routing.stopAbortRequestIds.length > 0) this.metrics.stopStringHits.inc(routing.stopAbortRequestIds.length);
    if (routing.unknownRequestIds.length > 0) {
      this.metrics.unknownOutputs.inc(routing.unknownRequestIds.length);
      this.logger.debug('outputs for requests without a stream here ignored', {
        stepId: step.stepId,
        count: routing.unknownRequestIds.length,
        requestIds: routing.unknownRequestIds.slice(0, 5),
      });
    }
  }
}
