import { CHAT_ROLES, type ChatMessage, type ChatRole, type TemplateMessage } from './chat-message.types.js';
import { InvalidContentError, InvalidMessageRoleError, TokenizerError } from './tokenizer.errors.js';

/**
 * Turns OpenAI messages into what chat templates expect, the way vLLM does for templates that
 * take string content: text parts are joined with '\n'; null content (an assistant turn that
 * only calls tools) becomes ''; tool-call arguments sent as JSON strings are parsed, because
 * templates such as Llama 3.1's print them with `| tojson`. Other fields pass through.
 */
export function normalizeChatMessages(messages: unknown): TemplateMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new TokenizerError('invalid_content', 'messages must be a non-empty array');
  }
  return messages.map((message: unknown, index) => normalizeMessage(message, index));
}

function normalizeMessage(raw: unknown, index: number): TemplateMessage {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidContentError(index, 'belongs to a message that is not an object');
  }
  const message = raw as ChatMessage;
  if (!CHAT_ROLES.includes(message.role)) throw new InvalidMessageRoleError(index, message.role);
  const normalized: TemplateMessage = { ...message, role: message.role as ChatRole, content: contentText(message, index) };
  if (message.tool_calls !== undefined) {
    if (message.role !== 'assistant' || !Array.isArray(message.tool_calls)) {
      throw new InvalidContentError(index, 'has tool_calls, which only an assistant message may carry, as an array');
    }
    normalized['tool_calls'] = message.tool_calls.map((call, callIndex) => parseToolCall(call, index, callIndex));
  }
  return normalized;
}

function contentText(message: ChatMessage, index: number): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) {
    if (message.role === 'assistant') return '';
    throw new InvalidContentError(index, `is required for a ${message.role} message`);
  }
  if (!Array.isArray(content)) throw new InvalidContentError(index, 'must be a string or an array of content parts');
  const texts: string[] = [];
  content.forEach((part: unknown, partIndex) => {
    const typed = part as { type?: unknown; text?: unknown } | null;
    if (typeof typed !== 'object' || typed === null) {
      throw new InvalidContentError(index, `[${partIndex}] must be an object`);
    }
    if (typed.type !== 'text') {
      throw new InvalidContentError(index, `[${partIndex}] has type ${JSON.stringify(typed.type)}; only "text" parts are supported`);
    }
    if (typeof typed.text !== 'string') throw new InvalidContentError(index, `[${partIndex}].text must be a string`);
    texts.push(typed.text);
  });
  return texts.join('\n');
}

function parseToolCall(call: unknown, index: number, callIndex: number): unknown {
  const fn = (call as { function?: { name?: unknown; arguments?: unknown } } | null)?.function;
  if (typeof fn !== 'object' || fn === null || typeof fn.name !== 'string') {
    throw new InvalidContentError(index, `tool_calls[${callIndex}].function.name must be a string`);
  }
  if (typeof fn.arguments !== 'string') return call;
  let parsed: unknown;
  try {
    parsed = JSON.parse(fn.arguments);
  } catch {
    throw new InvalidContentError(index, `tool_calls[${callIndex}].function.arguments is not valid JSON`);
  }
  return { ...(call as object), function: { ...fn, arguments: parsed } };
}
