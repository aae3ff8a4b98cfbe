import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Routes, type DecodeReply, type TokenizerInfoReply } from '@deepinfer/contracts';
import { BusHandlers, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { StreamRouter } from '@deepinfer/tokenizer-core';
import { LoadedTokenizer } from './loaded-tokenizer.js';
import { OutputsHandler } from './outputs.handler.js';
import { PromptEncoder } from './prompt-encoder.js';
import { TokenDecoder } from './token-decoder.js';
import { TokenizerMetrics } from './tokenizer.metrics.js';

/**
 * Every route the tokenizer serves or listens to, wired in one place (BusHandlers unsubscribes
 * them at shutdown). The four request routes join the tokenizer's queue group; outputs and close
 * are this instance's own subjects (no queue group).
 */
@Injectable()
export class TokenizerRoutes implements OnModuleInit {
  /** Computed once: the tokenizer never changes while the service runs. */
  private readonly info: TokenizerInfoReply;

  constructor(
    @Inject(BusHandlers) private readonly handlers: BusHandlers,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
    @Inject(PromptEncoder) private readonly encoder: PromptEncoder,
    @Inject(TokenDecoder) private readonly decoder: TokenDecoder,
    @Inject(OutputsHandler) private readonly outputs: OutputsHandler,
    @Inject(StreamRouter) private readonly router: StreamRouter,
    @Inject(TokenizerMetrics) private readonly metrics: TokenizerMetrics,
    @Inject(LoadedTokenizer) loaded: LoadedTokenizer,
  ) {
    const t = loaded.tokenizer;
    this.info = {
      vocabSize: t.vocabSize,
      bosTokenId: t.bosToken?.id ?? null,
      eosTokenIds: t.eosTokens.map((token) => token.id),
      hasChatTemplate: t.hasChatTemplate,
      chatTemplate: t.defaultChatTemplate,
      maxModelLen: loaded.maxModelLen,
      specialTokens: t.specialTokens.map(({ id, text }) => ({ id, text })),
    };
  }

  onModuleInit(): void {
    // EncodeRequest → EncodeReply, opening the request's streams here.
    this.handlers.serve(Routes.tokenizerEncode, (request) => this.encoder.encode(request));
    // ChatRequest → EncodeReply with the rendered prompt.
    this.handlers.serve(Routes.tokenizerChat, (request) => this.encoder.chat(request));
    this.handlers.serve(Routes.tokenizerDecode, (request): DecodeReply => ({ text: this.decoder.decode(request.tokenIds, request.skipSpecialTokens ?? true) }));
    this.handlers.serve(Routes.tokenizerInfo, () => this.info);
    // Synchronous: the bus runs listeners in arrival order, so steps are detokenized in the
    // order the scheduler sent them (NATS keeps one publisher's order on one subject).
    this.handlers.listen(Routes.tokenizerOutputs.at(this.state.instanceId), (step) => this.outputs.onStep(step));
    // The api drops the streams of requests that will never run (refused, or the client left).
    this.handlers.listen(Routes.tokenizerClose.at(this.state.instanceId), (message) => {
      const numClosed = this.router.close(message.requestIds);
      if (numClosed > 0) this.metrics.droppedStreams.inc({ reason: 'closed' }, numClosed);
    });
  }
}
