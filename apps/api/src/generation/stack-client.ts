import { Inject, Injectable } from '@nestjs/common';
import {
  Routes,
  type AbortMessage,
  type ChatRequest,
  type DecodeReply,
  type DecodeRequest,
  type EncodeReply,
  type EncodeRequest,
  type StreamCloseMessage,
  type SubmitMessage,
  type SubmitReply,
  type TokenizerInfoReply,
} from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import { MESSAGE_BUS } from '@deepinfer/service-kit';

/** Encoding a long prompt in the JS tokenizer can take a second; submits answer at once. */
const TOKENIZER_TIMEOUT_MS = 30_000;
const SCHEDULER_TIMEOUT_MS = 10_000;

/** The api's calls to the other services, by route (replies validated). Errors are ProtocolErrors (see toOpenAIError). */
@Injectable()
export class StackClient {
  constructor(@Inject(MESSAGE_BUS) private readonly bus: MessageBus) {}

  encode(request: EncodeRequest): Promise<EncodeReply> {
    return this.bus.call(Routes.tokenizerEncode, request, { timeoutMs: TOKENIZER_TIMEOUT_MS });
  }

  chat(request: ChatRequest): Promise<EncodeReply> {
    return this.bus.call(Routes.tokenizerChat, request, { timeoutMs: TOKENIZER_TIMEOUT_MS });
  }

  decode(request: DecodeRequest): Promise<DecodeReply> {
    return this.bus.call(Routes.tokenizerDecode, request, { timeoutMs: TOKENIZER_TIMEOUT_MS });
  }

  tokenizerInfo(): Promise<TokenizerInfoReply> {
    return this.bus.call(Routes.tokenizerInfo, {}, { timeoutMs: 5000 });
  }

  submit(message: SubmitMessage): Promise<SubmitReply> {
    return this.bus.call(Routes.schedulerSubmit, message, { timeoutMs: SCHEDULER_TIMEOUT_MS });
  }

  /** To one replica's scheduler (the router's choice). */
  submitTo(replicaId: string, message: SubmitMessage, timeoutMs = SCHEDULER_TIMEOUT_MS): Promise<SubmitReply> {
    return this.bus.call(Routes.replicaSubmit.at(replicaId), message, { timeoutMs });
  }

  abort(message: AbortMessage): void {
    if (message.requestIds.length > 0) this.bus.emit(Routes.schedulerAbort, message);
  }

  closeStreams(tokenizerInstanceId: string, message: StreamCloseMessage): void {
    this.bus.emit(Routes.tokenizerClose.at(tokenizerInstanceId), message);
  }
}
