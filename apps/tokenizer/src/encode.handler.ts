import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { EncodeRequest, queueGroupOf, Subjects } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import { MESSAGE_BUS } from '@deepinfer/service-kit';
import { PromptEncoder } from './prompt-encoder.js';

/** Subjects.tokenizerEncode (queue group): EncodeRequest → EncodeReply, opening the request's streams here. */
@Injectable()
export class EncodeHandler implements OnModuleInit {
  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(PromptEncoder) private readonly encoder: PromptEncoder,
  ) {}

  onModuleInit(): void {
    this.bus.handle(Subjects.tokenizerEncode, EncodeRequest, (request) => this.encoder.encode(request), { queue: queueGroupOf('tokenizer') });
  }
}
