import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { TokenizerLoadError } from './tokenizer.errors.js';
import type { GenerationConfigJson, TokenizerConfigJson, TokenizerJson } from './tokenizer-json.types.js';

/** The name transformers gives the template used when a request names none. */
export const DEFAULT_CHAT_TEMPLATE_NAME = 'default';

/** Everything the tokenizer needs from a model directory, parsed but not yet interpreted. */
export interface TokenizerFiles {
  readonly tokenizerJson: TokenizerJson;
  readonly tokenizerConfig: TokenizerConfigJson;
  /** chat templates by name; the unnamed one is stored as `default` */
  readonly chatTemplates: ReadonlyMap<string, string>;
  readonly generationConfig?: GenerationConfigJson;
  /** where they came from, for messages */
  readonly source: string;
}

/**
 * Reads a Hugging Face model directory: tokenizer.json (required), tokenizer_config.json
 * (optional for base models), generation_config.json (optional), and chat templates from every
 * place transformers keeps them, later ones winning as in transformers:
 *   1. tokenizer_config.json `chat_template`: a string, or a list of `{name, template}`;
 *   2. chat_template.jinja (transformers >= 4.49 saves the default template there);
 *   3. additional_chat_templates/<name>.jinja (named templates, same era).
 */
export async function loadTokenizerFiles(directory: string): Promise<TokenizerFiles> {
  const tokenizerJson = await readJson<TokenizerJson>(directory, 'tokenizer.json', true);
  const tokenizerConfig = (await readJson<TokenizerConfigJson>(directory, 'tokenizer_config.json', false)) ?? {};
  const generationConfig = await readJson<GenerationConfigJson>(directory, 'generation_config.json', false);
  if (!tokenizerJson || typeof tokenizerJson.model !== 'object' || tokenizerJson.model === null) {
    throw new TokenizerLoadError(`${path.join(directory, 'tokenizer.json')} has no "model" section`);
  }
  const chatTemplates = chatTemplatesFromConfig(tokenizerConfig, directory);
  const jinja = await readText(directory, 'chat_template.jinja');
  if (jinja !== undefined) chatTemplates.set(DEFAULT_CHAT_TEMPLATE_NAME, jinja);
  for (const file of await listDir(path.join(directory, 'additional_chat_templates'))) {
    if (!file.endsWith('.jinja')) continue;
    const template = await readText(path.join(directory, 'additional_chat_templates'), file);
    if (template !== undefined) chatTemplates.set(file.slice(0, -'.jinja'.length), template);
  }
  return {
    tokenizerJson,
    tokenizerConfig,
    chatTemplates,
    ...(generationConfig ? { generationConfig } : {}),
    source: directory,
  };
}

/** Reads `chat_template` of tokenizer_config.json into a name → template map. */
export function chatTemplatesFromConfig(config: TokenizerConfigJson, source = 'tokenizer_config.json'): Map<string, string> {
  const templates = new Map<string, string>();
  const value = config.chat_template;
  if (value === undefined || value === null) return templates;
  if (typeof value === 'string') {
    templates.set(DEFAULT_CHAT_TEMPLATE_NAME, value);
    return templates;
  }
  if (!Array.isArray(value)) throw new TokenizerLoadError(`${source}: chat_template must be a string or a list of {name, template}`);
  for (const entry of value) {
    if (typeof entry?.name !== 'string' || typeof entry?.template !== 'string') {
      throw new TokenizerLoadError(`${source}: every chat_template entry needs a string name and template`);
    }
    templates.set(entry.name, entry.template);
  }
  return templates;
}

async function readJson<T>(directory: string, file: string, required: boolean): Promise<T | undefined> {
  const text = await readText(directory, file);
  if (text === undefined) {
    if (required) throw new TokenizerLoadError(`${path.join(directory, file)} not found`);
    return undefined;
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new TokenizerLoadError(`${path.join(directory, file)} is not valid JSON: ${(error as Error).message}`);
  }
}

async function readText(directory: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(path.join(directory, file), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerLoadError(`cannot read ${path.join(directory, file)}: ${(error as Error).message}`);
  }
}

async function listDir(directory: string): Promise<string[]> {
  try {
    return (await readdir(directory)).sort();
  } catch {
    return [];
  }
}
