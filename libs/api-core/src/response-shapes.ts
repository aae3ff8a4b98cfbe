import type { DeltaTokenLogprob } from '@deepinfer/contracts';

// The JSON shapes of OpenAI's completions and chat completions (as vLLM returns them), built
// from plain values so the HTTP layer only serialises.

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
}

export function usage(promptTokens: number, completionTokens: number, cachedTokens?: number): Usage {
  const u: Usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  if (cachedTokens !== undefined) u.prompt_tokens_details = { cached_tokens: cachedTokens };
  return u;
}

/**
 * OpenAI finish reasons: ours map 1:1 except `error`/`abort`, which never reach a finished
 * choice; `tool_calls` is a chat choice that stopped after making calls.
 */
export type OpenAIFinishReason = 'stop' | 'length' | 'tool_calls' | null;

/** A tool call in a chat message. */
export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A tool call in a stream chunk's delta: each call comes whole, in one delta. */
export interface ChatToolCallDelta extends ChatToolCall {
  index: number;
}

export interface ChatMessage {
  role: 'assistant';
  /** null when the message only calls tools. */
  content: string | null;
  tool_calls?: ChatToolCall[];
}

export interface ChatDelta {
  role?: 'assistant';
  content?: string;
  tool_calls?: ChatToolCallDelta[];
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

/** The /v1/completions logprobs shape; `textOffset` is where these tokens' text starts. */
export function completionLogprobs(items: readonly DeltaTokenLogprob[], textOffset: number): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let offset = textOffset;
  for (const item of items) {
    out.tokens.push(item.token);
    out.token_logprobs.push(item.logprob);
    out.top_logprobs.push(Object.fromEntries(item.top.map((t) => [t.token, t.logprob])));
    out.text_offset.push(offset);
    offset += item.token.length;
  }
  return out;
}

export interface ChatLogprobEntry {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

const bytesOf = (s: string) => Array.from(Buffer.from(s, 'utf8'));

/** The /v1/chat/completions logprobs shape. */
export function chatLogprobs(items: readonly DeltaTokenLogprob[]): { content: ChatLogprobEntry[] } {
  return {
    content: items.map((i) => ({
      token: i.token,
      logprob: i.logprob,
      bytes: bytesOf(i.token),
      top_logprobs: i.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: bytesOf(t.token) })),
    })),
  };
}

export interface ResponseHeader {
  id: string;
  created: number;
  model: string;
}

export function completionResponse(h: ResponseHeader, choices: { index: number; text: string; logprobs: CompletionLogprobs | null; finish_reason: OpenAIFinishReason; stop_reason: string | number | null }[], u: Usage) {
  return { id: h.id, object: 'text_completion' as const, created: h.created, model: h.model, choices, usage: u };
}

export function completionChunk(h: ResponseHeader, index: number, text: string, logprobs: CompletionLogprobs | null, finishReason: OpenAIFinishReason, stopReason: string | number | null = null) {
  return { id: h.id, object: 'text_completion' as const, created: h.created, model: h.model, choices: [{ index, text, logprobs, finish_reason: finishReason, stop_reason: stopReason }] };
}

export function chatResponse(h: ResponseHeader, choices: { index: number; message: ChatMessage; logprobs: { content: ChatLogprobEntry[] } | null; finish_reason: OpenAIFinishReason; stop_reason: string | number | null }[], u: Usage) {
  return { id: h.id, object: 'chat.completion' as const, created: h.created, model: h.model, choices, usage: u };
}

export function chatChunk(h: ResponseHeader, index: number, delta: ChatDelta, logprobs: { content: ChatLogprobEntry[] } | null, finishReason: OpenAIFinishReason, stopReason: string | number | null = null) {
  return { id: h.id, object: 'chat.completion.chunk' as const, created: h.created, model: h.model, choices: [{ index, delta, logprobs, finish_reason: finishReason, stop_reason: stopReason }] };
}

/** The last chunk of a stream with stream_options.include_usage: no choices, the usage. */
export function usageChunk(h: ResponseHeader, object: 'text_completion' | 'chat.completion.chunk', u: Usage) {
  return { id: h.id, object, created: h.created, model: h.model, choices: [], usage: u };
}
