import { Tokenizer } from '@huggingface/tokenizers';
import { normalizeChatMessages } from './chat-message.normalizer.js';
import type { ChatTool } from './chat-message.types.js';
import { ChatTemplateRenderer } from './chat-template.renderer.js';
import { DetokenizerPool } from './detokenizer-pool.js';
import { IncrementalDetokenizer, type DetokenizeOptions, type IncrementalDetokenizerOptions } from './incremental-detokenizer.js';
import { compileTokenPieces, type TokenPieces } from './token-pieces.compiler.js';
import { ChatTemplateNotFoundError, TemplateError, TokenizerLoadError } from './tokenizer.errors.js';
import { DEFAULT_CHAT_TEMPLATE_NAME, loadTokenizerFiles, type TokenizerFiles } from './tokenizer-files.loader.js';
import { specialTokenText, type TokenizerConfigJson } from './tokenizer-json.types.js';

export interface EncodeOptions {
  /** Add what the tokenizer adds around a text (BOS for Llama). Default true, as in transformers. */
  addSpecialTokens?: boolean;
}

export interface ChatTemplateOptions {
  /** End with the assistant header so the model answers. Default true (vLLM's chat default). */
  addGenerationPrompt?: boolean;
  /** OpenAI tools, given to the template as `tools` (null when absent, as transformers does) */
  tools?: readonly ChatTool[] | null;
  /** a named template of the model (`[{name, template}]` or additional_chat_templates/) */
  chatTemplateName?: string;
  /** a literal Jinja template replacing the model's (vLLM's `--chat-template`) */
  chatTemplate?: string;
  /** extra template variables (`enable_thinking`, `date_string`, …); they override special-token variables */
  templateKwargs?: Readonly<Record<string, unknown>>;
  /**
   * Add the tokenizer's special tokens when encoding the rendered prompt. Default false, as in
   * transformers' `apply_chat_template(tokenize=True)` and vLLM's chat API: templates write
   * their own BOS. When true, a BOS the template already wrote is not doubled.
   */
  addSpecialTokens?: boolean;
}

export interface ChatPrompt {
  /** the rendered template */
  readonly prompt: string;
  readonly promptTokenIds: number[];
  readonly numPromptTokens: number;
}

export interface TokenRef {
  readonly id: number;
  readonly text: string;
}

/**
 * transformers classes that rebuild tokenizer.json's post-processor from tokenizer_config's
 * `add_bos_token` / `add_eos_token` at load; for every other class tokenizer.json decides.
 */
const POST_PROCESSOR_FROM_CONFIG = new Set([
  'LlamaTokenizer',
  'LlamaTokenizerFast',
  'CodeLlamaTokenizer',
  'CodeLlamaTokenizerFast',
  'GemmaTokenizer',
  'GemmaTokenizerFast',
]);

const MAX_LITERAL_TEMPLATES = 16;

/**
 * A model's tokenizer: encode, chat templates and decode. Framework-free; the tokenizer service
 * is a thin adapter around one instance per model. Encoding is delegated to
 * `@huggingface/tokenizers` (a JS port of HF tokenizers); decoding uses the compiled per-token
 * pieces so that the full decode and the incremental one share one implementation.
 */
export class ModelTokenizer {
  readonly pieces: TokenPieces;
  readonly bosToken: TokenRef | null;
  /** the tokenizer's eos, then generation_config.json's extra eos ids (stop token ids for the scheduler) */
  readonly eosTokens: readonly TokenRef[];
  readonly specialTokens: readonly TokenRef[];
  readonly numAddedTokens: number;
  /** tokenizer_config's model_max_length when it is a real limit (HF writes 1e30 for "none") */
  readonly modelMaxLength: number | null;
  private readonly tokenizer: Tokenizer;
  private readonly config: TokenizerConfigJson;
  /** null: tokenizer.json's post-processor decides; else add BOS / EOS by hand */
  private readonly manualSpecialTokens: { bos: boolean; eos: boolean } | null;
  private readonly templates = new Map<string, ChatTemplateRenderer>();
  private readonly literalTemplates = new Map<string, ChatTemplateRenderer>();
  private readonly templateVariables: Record<string, unknown>;

  constructor(readonly files: TokenizerFiles) {
    const { tokenizerJson, tokenizerConfig } = files;
    this.config = tokenizerConfig;
    try {
      this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (error) {
      throw new TokenizerLoadError(`${files.source}: cannot build the tokenizer: ${(error as Error).message}`);
    }
    const addedTokens = tokenizerJson.added_tokens ?? [];
    this.numAddedTokens = addedTokens.length;
    const vocabSize = vocabularySize(files);
    const tokens = Array.from({ length: vocabSize }, (_, id) => this.tokenizer.id_to_token(id));
    const addedIds = new Set(addedTokens.map((token) => token.id));
    const specialIds = new Set(addedTokens.filter((token) => token.special).map((token) => token.id));
    // transformers also treats the tokens named in tokenizer_config as special.
    for (const text of this.configSpecialTokenTexts()) {
      const id = this.tokenizer.token_to_id(text);
      if (id !== undefined) specialIds.add(id);
    }
    this.pieces = compileTokenPieces(tokenizerJson.decoder, tokens, addedIds, specialIds);
    this.specialTokens = [...specialIds].sort((a, b) => a - b).map((id) => ({ id, text: tokens[id] ?? '' }));
    this.bosToken = this.tokenRef(specialTokenText(tokenizerConfig.bos_token));
    this.eosTokens = this.collectEosTokens();
    const maxLength = tokenizerConfig.model_max_length;
    this.modelMaxLength = typeof maxLength === 'number' && maxLength < 1e12 ? maxLength : null;
    const fromConfig =
      typeof tokenizerConfig.tokenizer_class === 'string' && POST_PROCESSOR_FROM_CONFIG.has(tokenizerConfig.tokenizer_class);
    this.manualSpecialTokens =
      fromConfig && (typeof tokenizerConfig.add_bos_token === 'boolean' || typeof tokenizerConfig.add_eos_token === 'boolean')
        ? { bos: tokenizerConfig.add_bos_token ?? true, eos: tokenizerConfig.add_eos_token ?? false }
        : null;
    this.templateVariables = this.specialTokenVariables();
    for (const [name, source] of files.chatTemplates) {
      try {
        this.templates.set(name, new ChatTemplateRenderer(source));
      } catch (error) {
        throw new TokenizerLoadError(`${files.source}: chat template "${name}" does not parse: ${(error as TemplateError).templateMessage}`);
      }
    }
  }

  static async fromDirectory(directory: string): Promise<ModelTokenizer> {
    return new ModelTokenizer(await loadTokenizerFiles(directory));
  }

  get vocabSize(): number {
    return this.pieces.vocabSize;
  }

  get chatTemplateNames(): string[] {
    return [...this.templates.keys()];
  }

  get hasChatTemplate(): boolean {
    return this.templates.size > 0;
  }

  /** The source of the template a chat request without a template of its own renders with; null: none (or several and no default). */
  get defaultChatTemplate(): string | null {
    return (this.templates.get(DEFAULT_CHAT_TEMPLATE_NAME) ?? (this.templates.size === 1 ? [...this.templates.values()][0] : undefined))?.source ?? null;
  }

  /** Whether `encode` adds a BOS by default. */
  get addsBosToken(): boolean {
    if (this.bosToken === null) return false;
    if (this.manualSpecialTokens) return this.manualSpecialTokens.bos;
    return this.tokenizer.encode('a', { add_special_tokens: true }).ids[0] === this.bosToken.id;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecialTokens = options.addSpecialTokens ?? true;
    if (!addSpecialTokens || this.manualSpecialTokens === null) {
      return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
    }
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (this.manualSpecialTokens.bos && this.bosToken) ids.unshift(this.bosToken.id);
    const eos = this.eosTokens[0];
    if (this.manualSpecialTokens.eos && eos) ids.push(eos.id);
    return ids;
  }

  countTokens(text: string, options: EncodeOptions = {}): number {
    return this.encode(text, options).length;
  }

  /** Renders the chat template (no tokenization). */
  renderChat(messages: unknown, options: ChatTemplateOptions = {}): string {
    const renderer = this.selectTemplate(options);
    return renderer.render({
      ...this.templateVariables,
      ...(options.templateKwargs ?? {}),
      messages: normalizeChatMessages(messages),
      tools: options.tools ?? null,
      documents: null,
      add_generation_prompt: options.addGenerationPrompt ?? true,
    });
  }

  /** Renders the chat template and encodes it: the ids of transformers' `apply_chat_template(tokenize=True)`. */
  applyChatTemplate(messages: unknown, options: ChatTemplateOptions = {}): ChatPrompt {
    const prompt = this.renderChat(messages, options);
    const addSpecialTokens = options.addSpecialTokens ?? false;
    const promptTokenIds = this.encode(prompt, { addSpecialTokens });
    const bos = this.bosToken;
    if (addSpecialTokens && bos && prompt.startsWith(bos.text) && promptTokenIds[0] === bos.id && promptTokenIds[1] === bos.id) {
      promptTokenIds.shift();
    }
    return { prompt, promptTokenIds, numPromptTokens: promptTokenIds.length };
  }

  /** Decodes a whole sequence (HF `decode` with clean_up_tokenization_spaces=false, as vLLM streams). */
  decode(tokenIds: readonly number[], options: DetokenizeOptions = {}): string {
    const detokenizer = new IncrementalDetokenizer(this.pieces, options);
    return detokenizer.push(tokenIds) + detokenizer.finish();
  }

  createDetokenizer(options: IncrementalDetokenizerOptions = {}): IncrementalDetokenizer {
    return new IncrementalDetokenizer(this.pieces, options);
  }

  createDetokenizerPool(): DetokenizerPool {
    return new DetokenizerPool(this.pieces);
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  private selectTemplate(options: ChatTemplateOptions): ChatTemplateRenderer {
    if (options.chatTemplate !== undefined) return this.literalTemplate(options.chatTemplate);
    const names = this.chatTemplateNames;
    if (options.chatTemplateName !== undefined) {
      const named = this.templates.get(options.chatTemplateName);
      if (!named) {
        throw new ChatTemplateNotFoundError(
          `chat template "${options.chatTemplateName}" not found; this model has ${names.length ? names.join(', ') : 'none'}`,
          names,
          'chat_template_not_found',
        );
      }
      return named;
    }
    const fallback = this.templates.get(DEFAULT_CHAT_TEMPLATE_NAME) ?? (this.templates.size === 1 ? [...this.templates.values()][0] : undefined);
    if (fallback) return fallback;
    throw new ChatTemplateNotFoundError(
      names.length
        ? `this model has several chat templates (${names.join(', ')}) and no default; name one`
        : 'this model has no chat template, so it cannot serve chat requests; use completions or pass a template',
      names,
    );
  }

  private literalTemplate(source: string): ChatTemplateRenderer {
    let renderer = this.literalTemplates.get(source);
    if (!renderer) {
      renderer = new ChatTemplateRenderer(source);
      if (this.literalTemplates.size >= MAX_LITERAL_TEMPLATES) {
        this.literalTemplates.delete(this.literalTemplates.keys().next().value!);
      }
      this.literalTemplates.set(source, renderer);
    }
    return renderer;
  }

  private configSpecialTokenTexts(): string[] {
    const c = this.config;
    const named = [c.bos_token, c.eos_token, c.unk_token, c.pad_token, c.sep_token, c.cls_token, c.mask_token];
    return [...named, ...(c.additional_special_tokens ?? [])]
      .map(specialTokenText)
      .filter((text): text is string => text !== null);
  }

  /** bos_token, eos_token, … as template variables (only those the config defines, as transformers). */
  private specialTokenVariables(): Record<string, unknown> {
    const c = this.config;
    const variables: Record<string, unknown> = {};
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'] as const) {
      const text = specialTokenText(c[key]);
      if (text !== null) variables[key] = text;
    }
    if (c.additional_special_tokens) variables['additional_special_tokens'] = c.additional_special_tokens.map(specialTokenText);
    return variables;
  }

  private tokenRef(text: string | null): TokenRef | null {
    if (text === null) return null;
    const id = this.tokenizer.token_to_id(text);
    return id === undefined ? null : { id, text };
  }

  private collectEosTokens(): TokenRef[] {
    const refs: TokenRef[] = [];
    const eos = this.tokenRef(specialTokenText(this.config.eos_token));
    if (eos) refs.push(eos);
    const generationEos = this.files.generationConfig?.eos_token_id;
    const ids = generationEos === undefined || generationEos === null ? [] : Array.isArray(generationEos) ? generationEos : [generationEos];
    for (const id of ids) {
      if (!refs.some((ref) => ref.id === id)) refs.push({ id, text: this.tokenizer.id_to_token(id) ?? '' });
    }
    return refs;
  }
}

function vocabularySize(files: TokenizerFiles): number {
  const vocab = files.tokenizerJson.model.vocab;
  let size = Array.isArray(vocab) ? vocab.length : 0;
  if (!Array.isArray(vocab)) for (const id of Object.values(vocab)) size = Math.max(size, id + 1);
  for (const token of files.tokenizerJson.added_tokens ?? []) size = Math.max(size, token.id + 1);
  return size;
}
