import { Inject, Injectable } from '@nestjs/common';
import { ErrorCodes, ProtocolError, type ChatRequest, type EncodeReply, type EncodeRequest, type StreamOpen } from '@deepinfer/contracts';
import { SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { ContextLengthExceededError, StreamRouter, validatePromptLength, type ChatTool } from '@deepinfer/tokenizer-core';
import { LoadedTokenizer } from './loaded-tokenizer.js';
import { toProtocolError, type PromptField } from './tokenizer-error.mapper.js';
import { TokenizerMetrics } from './tokenizer.metrics.js';

export interface ChatEncoding {
  prompt: string;
  tokenIds: number[];
}

/**
 * Encode and chat requests: prompt → ids, the length check, and the opening of the request's
 * streams on this instance. Errors leave as ProtocolErrors (the api's 400s).
 */
@Injectable()
export class PromptEncoder {
  constructor(
    @Inject(LoadedTokenizer) private readonly loaded: LoadedTokenizer,
    @Inject(StreamRouter) private readonly router: StreamRouter,
    @Inject(TokenizerMetrics) private readonly metrics: TokenizerMetrics,
    @Inject(SERVICE_STATE) private readonly state: ServiceState,
  ) {}

  get maxModelLen(): number {
    return this.loaded.maxModelLen;
  }

  encode(request: EncodeRequest): EncodeReply {
    const tokenIds = request.promptTokenIds !== undefined ? this.checkedIds(request.promptTokenIds) : this.encodeText(request.text, request.addSpecialTokens);
    return this.admit(tokenIds, request.maxTokens, request.streams, 'prompt');
  }

  chat(request: ChatRequest): EncodeReply {
    const { prompt, tokenIds } = this.encodeChat(request);
    return { ...this.admit(tokenIds, request.maxTokens, request.streams, 'messages'), prompt };
  }

  /** Text → ids, timed and counted; no length check (the admin /tokenize route reports counts). */
  encodeText(text: string, addSpecialTokens = true): number[] {
    const end = this.metrics.encodeDuration.startTimer({ kind: 'encode' });
    try {
      const ids = this.loaded.tokenizer.encode(text, { addSpecialTokens });
      this.metrics.encodedTokens.inc(ids.length);
      return ids;
    } catch (error) {
      throw toProtocolError(error, 'prompt');
    } finally {
      end();
    }
  }

  /** Messages → chat template → ids, timed and counted; no length check. */
  encodeChat(request: Pick<ChatRequest, 'messages' | 'addGenerationPrompt' | 'tools' | 'chatTemplate' | 'templateKwargs' | 'addSpecialTokens'>): ChatEncoding {
    const end = this.metrics.encodeDuration.startTimer({ kind: 'chat' });
    try {
      const { prompt, promptTokenIds } = this.loaded.tokenizer.applyChatTemplate(request.messages, {
        ...(request.addGenerationPrompt !== undefined ? { addGenerationPrompt: request.addGenerationPrompt } : {}),
        ...(request.tools !== undefined ? { tools: request.tools as ChatTool[] } : {}),
        ...(request.chatTemplate !== undefined ? { chatTemplate: request.chatTemplate } : {}),
        ...(request.templateKwargs !== undefined ? { templateKwargs: request.templateKwargs } : {}),
        ...(request.addSpecialTokens !== undefined ? { addSpecialTokens: request.addSpecialTokens } : {}),
      });
      this.metrics.encodedTokens.inc(promptTokenIds.length);
      return { prompt, tokenIds: promptTokenIds };
    } catch (error) {
      throw toProtocolError(error, 'messages');
    } finally {
      end();
    }
  }

  /** A prompt the client gave as ids: every id must be in the vocabulary (the engine indexes with them). */
  private checkedIds(tokenIds: number[]): number[] {
    const vocabSize = this.loaded.tokenizer.vocabSize;
    const bad = tokenIds.findIndex((id) => id >= vocabSize);
    if (bad >= 0) throw new ProtocolError(ErrorCodes.badRequest, `prompt token ${tokenIds[bad]} (index ${bad}) is not a token id of this model (vocabulary size ${vocabSize})`, 'prompt');
    return tokenIds;
  }

  /**
   * The length check, then the streams. With maxTokens: prompt + maxTokens ≤ max_model_len and a
   * non-empty prompt (validatePromptLength). Streams without maxTokens: room for one output token
   * (an empty prompt is the caller's to refuse). Streams open only after the check, all or none,
   * so a refused request leaves nothing behind.
   */
  private admit(tokenIds: number[], maxTokens: number | undefined, streams: readonly StreamOpen[] | undefined, field: PromptField): EncodeReply {
    const maxModelLen = this.loaded.maxModelLen;
    const opensStreams = streams !== undefined && streams.length > 0;
    try {
      if (maxTokens !== undefined) validatePromptLength(tokenIds.length, maxModelLen, maxTokens);
      else if (opensStreams && tokenIds.length >= maxModelLen) throw new ContextLengthExceededError(tokenIds.length, maxModelLen);
      if (opensStreams) this.router.open(streams, tokenIds);
    } catch (error) {
      if (error instanceof RangeError) throw new ProtocolError(ErrorCodes.badRequest, error.message, 'maxTokens');
      throw toProtocolError(error, field);
    }
    return { tokenIds, numTokens: tokenIds.length, maxModelLen, tokenizerInstanceId: this.state.instanceId };
  }
}
