import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { MessageBus } from '@deepinfer/messaging';
import { MESSAGE_BUS, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { StreamRouter } from '@deepinfer/tokenizer-core';
import { LoadedTokenizer } from './loaded-tokenizer.js';

/**
 * Declares the service ready (the definition has managesReadiness): the tokenizer is loaded
 * (LoadedTokenizer is an async provider, so it is here) and every handler subscribed in
 * onModuleInit is known to the server (flush), so a caller seeing `ok` is served at once.
 */
@Injectable()
export class TokenizerReadiness implements OnApplicationBootstrap {
  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(LoadedTokenizer) private readonly loaded: LoadedTokenizer,
    @Inject(StreamRouter) private readonly router: StreamRouter,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.bus.flush();
    this.state.addDetails(() => ({ model: this.loaded.directory, maxModelLen: this.loaded.maxModelLen, activeStreams: this.router.size }));
    this.state.setStatus('ok');
  }
}
