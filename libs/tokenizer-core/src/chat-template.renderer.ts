import { Template } from '@huggingface/jinja';
import { TemplateError } from './tokenizer.errors.js';

/** Variables a chat template is rendered with (transformers' names). */
export interface ChatTemplateContext {
  messages: unknown[];
  add_generation_prompt: boolean;
  tools?: readonly unknown[] | null;
  /** special tokens as text: bos_token, eos_token, unk_token, pad_token, … */
  [key: string]: unknown;
}

/**
 * One compiled Jinja chat template. Compiled once (templates are parsed at load, so a broken
 * template fails at boot rather than on the first request) and rendered per request with
 * `@huggingface/jinja`, which uses transformers' settings (trim_blocks, lstrip_blocks) and
 * globals (`raise_exception`, `strftime_now`).
 */
export class ChatTemplateRenderer {
  private readonly template: Template;

  constructor(readonly source: string) {
    try {
      this.template = new Template(source);
    } catch (error) {
      throw new TemplateError(messageOf(error));
    }
  }

  render(context: ChatTemplateContext): string {
    try {
      return this.template.render(context);
    } catch (error) {
      throw new TemplateError(messageOf(error));
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
