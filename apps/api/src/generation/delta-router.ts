import { Inject, Injectable } from '@nestjs/common';
import { ErrorCodes, Routes, type DeltaBatchMessage, type ErrorCode, type StreamDelta } from '@deepinfer/contracts';
import type { Logger } from '@deepinfer/observability';
import { BusRoute, LOGGER, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';

export type DeltaSink = (delta: StreamDelta) => void;

/**
 * Receives this api instance's DeltaBatch messages (Routes.apiDeltas at its id) and hands each
 * delta to the request that waits for it. Deltas for unknown ids (a request already gone) are
 * dropped and counted. The hot path (one batch per detokenized step): `@BusRoute`, bound straight
 * to the bus (docs/adr/0002), before the HTTP ports open.
 */
@Injectable()
export class DeltaRouter {
  private readonly sinks = new Map<string, DeltaSink>();
  private numUnroutedDeltas = 0;
  /** This instance's deltas subject: what its StreamOpens name. */
  readonly subject: string;

  constructor(
    @Inject(SERVICE_STATE) state: ServiceState,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.subject = Routes.apiDeltas.at(state.instanceId).subject;
  }

  /** Routes.apiDeltas at this instance (ROUTE_INSTANCES: `apiInstanceId`). */
  @BusRoute(Routes.apiDeltas)
  onDeltas(batch: DeltaBatchMessage): void {
    for (const delta of batch.deltas) {
      const sink = this.sinks.get(delta.requestId);
      if (sink) sink(delta);
      else this.numUnroutedDeltas++;
    }
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
