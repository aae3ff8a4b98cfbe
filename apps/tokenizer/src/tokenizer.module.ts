import { Module } from '@nestjs/common';
import type { DeepInferConfig } from '@deepinfer/config';
import type { Logger } from '@deepinfer/observability';
import { CONFIG, LOGGER, ROUTE_INSTANCES, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS, StreamRouter } from '@deepinfer/tokenizer-core';
import { DeltaPublisher } from './delta-publisher.js';
import { LoadedTokenizer } from './loaded-tokenizer.js';
import { OutputsHandler } from './outputs.handler.js';
import { PromptEncoder } from './prompt-encoder.js';
import { StreamSweeper } from './stream-sweeper.js';
import { TokenDecoder } from './token-decoder.js';
import { TokenizerRoutes } from './tokenizer.routes.js';
import { TokenizerAdminController } from './tokenizer-admin.controller.js';
import { TokenizerReadiness } from './tokenizer-readiness.js';
import { TokenizerMetrics } from './tokenizer.metrics.js';

/** A stream with no output for this long is dropped (see StreamSweeper). */
export const STREAM_IDLE_TIMEOUT_MS = DEFAULT_STREAM_IDLE_TIMEOUT_MS;

/**
 * The tokenizer service: a thin adapter from NATS and admin HTTP to @deepinfer/tokenizer-core.
 * The shared providers (configuration, logger, NATS bus, metrics, health state) and the routes
 * /health and /metrics come from @deepinfer/service-kit.
 */
@Module({
  providers: [
    {
      provide: LoadedTokenizer,
      useFactory: (config: DeepInferConfig, logger: Logger) => LoadedTokenizer.load(config, logger),
      inject: [CONFIG, LOGGER],
    },
    {
      provide: StreamRouter,
      useFactory: (loaded: LoadedTokenizer) => new StreamRouter(loaded.tokenizer.pieces, { idleTimeoutMs: STREAM_IDLE_TIMEOUT_MS }),
      inject: [LoadedTokenizer],
    },
    TokenizerMetrics,
    PromptEncoder,
    TokenDecoder,
    DeltaPublisher,
    OutputsHandler,
    // Its outputs and close routes are at this instance's id.
    { provide: ROUTE_INSTANCES, useFactory: (state: ServiceState) => ({ tokenizerInstanceId: state.instanceId }), inject: [SERVICE_STATE] },
    StreamSweeper,
    TokenizerReadiness,
  ],
  controllers: [TokenizerAdminController, TokenizerRoutes],
})
export class TokenizerModule {}
