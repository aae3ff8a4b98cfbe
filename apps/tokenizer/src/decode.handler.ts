import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DecodeRequest, queueGroupOf, Subjects, type DecodeReply } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import { MESSAGE_BUS } from '@deepinfer/service-kit';
import { TokenDecoder } from './token-decoder.js';

/** Subjects.tokenizerDecode (queue group): DecodeRequest → DecodeReply. */
@Injectable()
export class DecodeHandler implements OnModuleInit {
  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(TokenDecoder) private readonly decoder: TokenDecoder,
  ) {}

  onModuleInit(): void {
    this.bus.handle(
      Subjects.tokenizerDecode,
      DecodeRequest,
      (request): DecodeReply => ({ text: this.decoder.decode(request.tokenIds, request.skipSpecialTokens ?? true) }),
      { queue: queueGroupOf('tokenizer') },
    );
  }
}
