/**
 * The parts of Hugging Face's tokenizer files this library reads. Loose on purpose: the files
 * carry many more fields, and `@huggingface/tokenizers` gets the raw objects for encoding.
 */

/** One entry of tokenizer.json `added_tokens`. */
export interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
}

/** A decoder step of tokenizer.json `decoder` (a tree: `Sequence` nests `decoders`). */
export interface DecoderJson {
  type: string;
  decoders?: DecoderJson[];
  pattern?: { String?: string; Regex?: string };
  content?: string;
  start?: number;
  stop?: number;
  replacement?: string;
  prepend_scheme?: 'always' | 'never' | 'first';
  add_prefix_space?: boolean;
  [key: string]: unknown;
}

/** tokenizer.json */
export interface TokenizerJson {
  added_tokens?: AddedTokenJson[];
  decoder?: DecoderJson | null;
  model: { type: string; vocab: Record<string, number> | Array<[string, number]>; [key: string]: unknown };
  [key: string]: unknown;
}

/** A special token in tokenizer_config.json: a plain string or a serialised AddedToken. */
export type SpecialTokenJson = string | { content: string; [key: string]: unknown } | null | undefined;

/** A chat template in tokenizer_config.json: one string, or a list of named ones. */
export type ChatTemplateJson = string | Array<{ name: string; template: string }>;

/** tokenizer_config.json */
export interface TokenizerConfigJson {
  tokenizer_class?: string;
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  bos_token?: SpecialTokenJson;
  eos_token?: SpecialTokenJson;
  unk_token?: SpecialTokenJson;
  pad_token?: SpecialTokenJson;
  sep_token?: SpecialTokenJson;
  cls_token?: SpecialTokenJson;
  mask_token?: SpecialTokenJson;
  additional_special_tokens?: SpecialTokenJson[];
  chat_template?: ChatTemplateJson;
  model_max_length?: number;
  clean_up_tokenization_spaces?: boolean;
  [key: string]: unknown;
}

/** generation_config.json: the eos ids the model stops on (often more than the tokenizer's eos). */
export interface GenerationConfigJson {
  bos_token_id?: number | null;
  eos_token_id?: number | number[] | null;
  [key: string]: unknown;
}

export function specialTokenText(token: SpecialTokenJson): string | null {
  if (token === null || token === undefined) return null;
  if (typeof token === 'string') return token;
  return typeof token.content === 'string' ? token.content : null;
}
