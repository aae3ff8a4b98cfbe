import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { queueGroupOf, Subjects, TokenizerInfoRequest, type TokenizerInfoReply } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import { MESSAGE_BUS } from '@deepinfer/service-kit';
import { LoadedTokenizer } from './loaded-tokenizer.js';

/** Subjects.tokenizerInfo (queue group): what the api needs to know about the tokenizer. */
@Injectable()
export class InfoHandler implements OnModuleInit {
  private readonly reply: TokenizerInfoReply;

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(LoadedTokenizer) loaded: LoadedTokenizer,
  ) {
    const t = loaded.tokenizer;
    // Computed once: the tokenizer never changes while the service runs.
    this.reply = {
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
    this.bus.handle(Subjects.tokenizerInfo, TokenizerInfoRequest, () => this.reply, { queue: queueGroupOf('tokenizer') });
  }
}
