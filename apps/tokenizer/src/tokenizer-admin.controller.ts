import { Body, Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { ErrorCodes, ProtocolError, validateBody } from '@deepinfer/contracts';
import type { DeepInferConfig } from '@deepinfer/config';
import { CONFIG } from '@deepinfer/service-kit';
import { summarizeTokenizer } from '@deepinfer/tokenizer-core';
import { DetokenizeBody } from './detokenize.dto.js';
import { LoadedTokenizer } from './loaded-tokenizer.js';
import { toHttpError } from './openai-http-error.js';
import { PromptEncoder } from './prompt-encoder.js';
import { TokenDecoder } from './token-decoder.js';
import { TokenizeBody } from './tokenize.dto.js';

/**
 * The tokenizer's own admin routes, beside /health and /metrics, for debugging: what tokenizer is
 * loaded, and tokenize/detokenize by hand (vLLM's /tokenize and /detokenize shapes). They change
 * nothing, so, like /health, they are not behind AdminKeyGuard; the admin port is internal.
 */
@Controller()
export class TokenizerAdminController {
  constructor(
    @Inject(CONFIG) private readonly config: DeepInferConfig,
    @Inject(LoadedTokenizer) private readonly loaded: LoadedTokenizer,
    @Inject(PromptEncoder) private readonly encoder: PromptEncoder,
    @Inject(TokenDecoder) private readonly decoder: TokenDecoder,
  ) {}

  @Get('tokenizer')
  summary(): Record<string, unknown> {
    const s = summarizeTokenizer(this.loaded.tokenizer);
    return {
      model: this.config.model,
      directory: this.loaded.directory,
      vocab_size: s.vocabSize,
      num_added_tokens: s.numAddedTokens,
      special_tokens: s.specialTokens,
      bos_token: s.bosToken,
      adds_bos_token: s.addsBosToken,
      eos_tokens: s.eosTokens,
      has_chat_template: s.hasChatTemplate,
      chat_template_names: s.chatTemplateNames,
      max_model_len: this.loaded.maxModelLen,
      max_model_len_source: this.loaded.maxModelLenSource,
      tokenizer_model_max_length: s.modelMaxLength,
    };
  }

  @Post('tokenize')
  @HttpCode(200)
  tokenize(@Body() raw: unknown): { tokens: number[]; count: number; max_model_len: number; prompt?: string } {
    try {
      const body = validateBody(TokenizeBody, raw ?? {});
      const text = body.text ?? body.prompt;
      if ((text === undefined) === (body.messages === undefined)) {
        throw new ProtocolError(ErrorCodes.badRequest, 'give exactly one of text (or prompt) and messages', 'text');
      }
      if (text !== undefined) {
        const tokens = this.encoder.encodeText(text, body.add_special_tokens ?? true);
        return { tokens, count: tokens.length, max_model_len: this.loaded.maxModelLen };
      }
      const { prompt, tokenIds } = this.encoder.encodeChat({
        messages: body.messages!,
        ...(body.add_special_tokens !== undefined ? { addSpecialTokens: body.add_special_tokens } : {}),
        ...(body.add_generation_prompt !== undefined ? { addGenerationPrompt: body.add_generation_prompt } : {}),
      });
      return { tokens: tokenIds, count: tokenIds.length, max_model_len: this.loaded.maxModelLen, prompt };
    } catch (error) {
      throw toHttpError(error);
    }
  }

  @Post('detokenize')
  @HttpCode(200)
  detokenize(@Body() raw: unknown): { prompt: string } {
    try {
      const body = validateBody(DetokenizeBody, raw ?? {});
      return { prompt: this.decoder.decode(body.tokens, true, 'tokens') };
    } catch (error) {
      throw toHttpError(error);
    }
  }
}
