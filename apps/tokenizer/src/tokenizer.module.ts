import { Module } from '@nestjs/common';

/**
 * The tokenizer service's own providers and controllers. The shared ones (configuration, logger,
 * NATS bus, metrics, health state and the admin routes) come from @deepinfer/service-kit.
 */
@Module({})
export class TokenizerModule {}
