/** OpenAI-shaped chat input, as the api receives it (after its own DTO validation). */

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

export const CHAT_ROLES: readonly ChatRole[] = ['system', 'user', 'assistant', 'tool'];

export interface TextContentPart {
  type: 'text';
  text: string;
}

export interface ToolCall {
  id?: string;
  type?: 'function';
  function: { name: string; arguments: string | Record<string, unknown> };
}

export interface ChatMessage {
  role: ChatRole;
  /** a string, or parts of which only `{type: 'text'}` is supported; null for tool-call-only turns */
  content?: string | TextContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  /** Qwen 3 / DeepSeek style thinking text, which some templates render */
  reasoning_content?: string;
  [key: string]: unknown;
}

/** A function tool as OpenAI sends it; passed to the template unchanged. */
export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; [key: string]: unknown };
  [key: string]: unknown;
}

/** A message as templates see it: content always a string, tool-call arguments parsed. */
export interface TemplateMessage {
  role: ChatRole;
  content: string;
  [key: string]: unknown;
}
