import { Inject, Injectable } from '@nestjs/common';
import {
  Subjects,
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

/** The api's calls to the other services, typed. Errors are ProtocolErrors (see toOpenAIError). */
@Injectable()
export class StackClient {
  constructor(@Inject(MESSAGE_BUS) private readonly bus: MessageBus) {}

  encode(request: EncodeRequest): Promise<EncodeReply> {
    return this.bus.request<EncodeReply>(Subjects.tokenizerEncode, request, { timeoutMs: TOKENIZER_TIMEOUT_MS });
  }

  chat(request: ChatRequest): Promise<EncodeReply> {
    return this.bus.request<EncodeReply>(Subjects.tokenizerChat, request, { timeoutMs: TOKENIZER_TIMEOUT_MS });
  }

  decode(request: DecodeRequest): Promise<DecodeReply> {
    return this.bus.request<DecodeReply>(Subjects.tokenizerDecode, request, { timeoutMs: TOKENIZER_TIMEOUT_MS });
  }

  tokenizerInfo(): Promise<TokenizerInfoReply> {
    return this.bus.request<TokenizerInfoReply>(Subjects.tokenizerInfo, {}, { timeoutMs: 5000 });
  }

  submit(message: SubmitMessage): Promise<SubmitReply> {
    return this.bus.request<SubmitReply>(Subjects.schedulerSubmit, message, { timeoutMs: SCHEDULER_TIMEOUT_MS });
  }

  /** To one replica's scheduler (the router's choice). */
  submitTo(replicaId: string, message: SubmitMessage, timeoutMs = SCHEDULER_TIMEOUT_MS): Promise<SubmitReply> {
    return this.bus.request<SubmitReply>(Subjects.replicaSubmit(replicaId), message, { timeoutMs });
  }

  abort(message: AbortMessage): void {
    if (message.requestIds.length > 0) this.bus.publish(Subjects.schedulerAbort, message);
  }

  closeStreams(tokenizerInstanceId: string, message: StreamCloseMessage): void {
    this.bus.publish(Subjects.tokenizerClose(tokenizerInstanceId), message);
  }
}
