import type { ModelTokenizer, TokenRef } from './model-tokenizer.js';

/** What the tokenizer service's admin endpoint shows about the loaded tokenizer. */
export interface TokenizerSummary {
  readonly source: string;
  readonly vocabSize: number;
  readonly numAddedTokens: number;
  /** tokens `skip_special_tokens` removes, by id */
  readonly specialTokens: readonly TokenRef[];
  readonly bosToken: TokenRef | null;
  readonly addsBosToken: boolean;
  /** every id that ends generation (tokenizer eos + generation_config eos) */
  readonly eosTokens: readonly TokenRef[];
  readonly hasChatTemplate: boolean;
  readonly chatTemplateNames: readonly string[];
  readonly modelMaxLength: number | null;
}

export function summarizeTokenizer(tokenizer: ModelTokenizer): TokenizerSummary {
  return {
    source: tokenizer.files.source,
    vocabSize: tokenizer.vocabSize,
    numAddedTokens: tokenizer.numAddedTokens,
    specialTokens: tokenizer.specialTokens,
    bosToken: tokenizer.bosToken,
    addsBosToken: tokenizer.addsBosToken,
    eosTokens: tokenizer.eosTokens,
    hasChatTemplate: tokenizer.hasChatTemplate,
    chatTemplateNames: tokenizer.chatTemplateNames,
    modelMaxLength: tokenizer.modelMaxLength,
  };
}
