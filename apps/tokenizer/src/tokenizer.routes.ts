import { Controller, Inject } from '@nestjs/common';
import { Routes, type ChatRequest, type DecodeReply, type DecodeRequest, type EncodeReply, type EncodeRequest, type StepOutputsMessage, type StreamCloseMessage, type TokenizerInfoReply } from '@deepinfer/contracts';
import { BusRoute, ListenRoute, ServeRoute } from '@deepinfer/service-kit';
import { StreamRouter } from '@deepinfer/tokenizer-core';
import { LoadedTokenizer } from './loaded-tokenizer.js';
import { OutputsHandler } from './outputs.handler.js';
import { PromptEncoder } from './prompt-encoder.js';
import { TokenDecoder } from './token-decoder.js';
import { TokenizerMetrics } from './tokenizer.metrics.js';

/**
 * Every route the tokenizer serves or listens to, one method each (bootstrapService binds them;
 * BusHandlers unsubscribes them at shutdown). The four request routes join the tokenizer's
 * queue group; outputs and close are this instance's own subjects (ROUTE_INSTANCES:
 * `tokenizerInstanceId`). Outputs is on the hot path (one message per step): `@BusRoute`, bound
 * straight to the bus, not through Nest's dispatch (docs/adr/0002).
 */
@Controller()
export class TokenizerRoutes {
  /** Computed once: the tokenizer never changes while the service runs. */
  private readonly info: TokenizerInfoReply;

  constructor(
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

  /** EncodeRequest → EncodeReply, opening the request's streams here. */
  @ServeRoute(Routes.tokenizerEncode)
  encode(request: EncodeRequest): EncodeReply {
    return this.encoder.encode(request);
  }

  /** ChatRequest → EncodeReply with the rendered prompt. */
  @ServeRoute(Routes.tokenizerChat)
  chat(request: ChatRequest): EncodeReply {
    return this.encoder.chat(request);
  }

  @ServeRoute(Routes.tokenizerDecode)
  decode(request: DecodeRequest): DecodeReply {
    return { text: this.decoder.decode(request.tokenIds, request.skipSpecialTokens ?? true) };
  }

  @ServeRoute(Routes.tokenizerInfo)
  tokenizerInfo(): TokenizerInfoReply {
    return this.info;
  }

  /**
   * Synchronous: the bus runs listeners in arrival order, so steps are detokenized in the order
   * the scheduler sent them (NATS keeps one publisher's order on one subject).
   */
  @BusRoute(Routes.tokenizerOutputs)
  onStep(step: StepOutputsMessage): void {
    this.outputs.onStep(step);
  }

  /** The api drops the streams of requests that will never run (refused, or the client left). */
  @ListenRoute(Routes.tokenizerClose)
  close(message: StreamCloseMessage): void {
    const numClosed = this.router.close(message.requestIds);
    if (numClosed > 0) this.metrics.droppedStreams.inc({ reason: 'closed' }, numClosed);
  }
}
