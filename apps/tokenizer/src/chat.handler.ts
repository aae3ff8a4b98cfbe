import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ChatRequest, queueGroupOf, Subjects } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import { MESSAGE_BUS } from '@deepinfer/service-kit';
import { PromptEncoder } from './prompt-encoder.js';

/** Subjects.tokenizerChat (queue group): ChatRequest → EncodeReply with the rendered prompt. */
@Injectable()
export class ChatHandler implements OnModuleInit {
  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(PromptEncoder) private readonly encoder: PromptEncoder,
  ) {}

  onModuleInit(): void {
    this.bus.handle(Subjects.tokenizerChat, ChatRequest, (request) => this.encoder.chat(request), { queue: queueGroupOf('tokenizer') });
  }
}
