import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { StreamCloseMessage, Subjects } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import { MESSAGE_BUS, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { StreamRouter } from '@deepinfer/tokenizer-core';
import { TokenizerMetrics } from './tokenizer.metrics.js';

/**
 * Subjects.tokenizerClose(this instance), no queue group: the api drops the streams of requests
 * that will never run (the scheduler refused them, or the client left before submit).
 */
@Injectable()
export class StreamCloseHandler implements OnModuleInit {
  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(StreamRouter) private readonly router: StreamRouter,
    @Inject(TokenizerMetrics) private readonly metrics: TokenizerMetrics,
  ) {}

  onModuleInit(): void {
    this.bus.subscribe(Subjects.tokenizerClose(this.state.instanceId), StreamCloseMessage, (message) => {
      const numClosed = this.router.close(message.requestIds);
      if (numClosed > 0) this.metrics.droppedStreams.inc({ reason: 'closed' }, numClosed);
    });
  }
}
