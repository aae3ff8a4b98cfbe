import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DeltaBatchSchema, ErrorCodes, Subjects, type ErrorCode, type StreamDelta } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import type { Logger } from '@deepinfer/observability';
import { LOGGER, MESSAGE_BUS, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';

export type DeltaSink = (delta: StreamDelta) => void;

/**
 * Receives this api instance's DeltaBatch messages (one subject per instance) and hands each
 * delta to the request that waits for it. Deltas for unknown ids (a request already gone) are
 * dropped and counted.
 */
@Injectable()
export class DeltaRouter implements OnModuleInit {
  private readonly sinks = new Map<string, DeltaSink>();
  private numUnroutedDeltas = 0;
  readonly subject: string;

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(SERVICE_STATE) state: ServiceState,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.subject = Subjects.apiDeltas(state.instanceId);
  }

  onModuleInit(): void {
    this.bus.subscribe(this.subject, DeltaBatchSchema, (batch) => {
      for (const delta of batch.deltas) {
        const sink = this.sinks.get(delta.requestId);
        if (sink) sink(delta);
        else this.numUnroutedDeltas++;
      }
    });
  }

  register(requestId: string, sink: DeltaSink): void {
    this.sinks.set(requestId, sink);
  }

  unregister(requestId: string): void {
    this.sinks.delete(requestId);
  }

  /** Ends every waiting request with an error (a service it depends on is gone: `unavailable`, a 503). */
  failAll(message: string, code: ErrorCode = ErrorCodes.unavailable): void {
    if (this.sinks.size === 0) return;
    this.logger.warn('failing in-flight requests', { count: this.sinks.size, reason: message });
    for (const [requestId, sink] of [...this.sinks]) {
      sink({ requestId, seq: -1, text: '', tokenIds: [], finishReason: 'error', error: message, errorCode: code });
    }
  }

  /** Ends the listed requests with an error (their replica is gone: `unavailable`, a 503). */
  fail(requestIds: readonly string[], message: string, code: ErrorCode = ErrorCodes.unavailable): void {
    for (const requestId of requestIds) {
      this.sinks.get(requestId)?.({ requestId, seq: -1, text: '', tokenIds: [], finishReason: 'error', error: message, errorCode: code });
    }
  }

  get numInFlight(): number {
    return this.sinks.size;
  }

  get unroutedDeltaCount(): number {
    return this.numUnroutedDeltas;
  }
}
