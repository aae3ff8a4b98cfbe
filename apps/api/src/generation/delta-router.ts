import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ErrorCodes, Routes, type ErrorCode, type StreamDelta } from '@deepinfer/contracts';
import type { Logger } from '@deepinfer/observability';
import { BusHandlers, LOGGER, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';

export type DeltaSink = (delta: StreamDelta) => void;

/**
 * Receives this api instance's DeltaBatch messages (Routes.apiDeltas at its id) and hands each
 * delta to the request that waits for it. Deltas for unknown ids (a request already gone) are
 * dropped and counted.
 */
@Injectable()
export class DeltaRouter implements OnModuleInit {
  private readonly sinks = new Map<string, DeltaSink>();
  private numUnroutedDeltas = 0;
  /** This instance's deltas subject: what its StreamOpens name. */
  readonly subject: string;
  private readonly deltas: ReturnType<typeof Routes.apiDeltas.at>;

  constructor(
    @Inject(BusHandlers) private readonly handlers: BusHandlers,
    @Inject(SERVICE_STATE) state: ServiceState,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.deltas = Routes.apiDeltas.at(state.instanceId);
    this.subject = this.deltas.subject;
  }

  onModuleInit(): void {
    this.handlers.listen(this.deltas, (batch) => {
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
