import type { DetokenizeParams, SamplingParamsMessage } from '@deepinfer/contracts';
import type { ChatCompletionRequestDto } from './dto/chat-completion-request.dto.js';
import type { CompletionRequestDto } from './dto/completion-request.dto.js';
import type { GenerationRequestDto } from './dto/generation-request.dto.js';
import { OpenAIError } from './openai-error.js';
import { guidedDecodingOf, guidedParam } from './guided-request.js';
import type { ToolCallFormat } from './tools/tool-format.js';
import { isEnforcedToolChoice, toolChoiceGuided, toolPlanOf, type ToolPlan } from './tools/tool-request.js';

/** One prompt to run: text to encode, ids given by the client, or chat messages to template. */
export type PromptInput =
  | { kind: 'text'; text: string }
  | { kind: 'tokens'; tokenIds: number[] }
  | { kind: 'chat'; messages: unknown[]; tools?: unknown[]; addGenerationPrompt: boolean; chatTemplate?: string; templateKwargs?: Record<string, unknown> };

/**
 * What a validated request asks the stack to do, independent of HTTP: the prompts, how many
 * choices each, the sampling and detokenization parameters, and how to shape the answer.
 */
export interface GenerationPlan {
  kind: 'completion' | 'chat';
  prompts: PromptInput[];
  /** Choices per prompt. */
  n: number;
  stream: boolean;
  includeUsage: boolean;
  echo: boolean;
  /** Top logprobs per token to return; undefined: no logprobs. */
  logprobs?: number;
  /** max_tokens as given; undefined means "the rest of the context" (chat) or 16 (completions). */
  maxTokens?: number;
  defaultMaxTokens: number | 'rest-of-context';
  /** Sampling for choice 0; choice i uses seed + i when a seed is given (distinct, reproducible). */
  sampling: Omit<SamplingParamsMessage, 'maxTokens'>;
  detokenize: DetokenizeParams;
  /** return_token_ids: answer with the token ids of each choice and of its prompt. */
  returnTokenIds: boolean;
  /** The request parameter guided decoding came from (sampling.guided), for a late 400. */
  guidedParam?: string;
  /** Chat: the request's tools, checked (undefined: none). */
  tools?: ToolPlan;
  /**
   * Chat with tools: the format the output is parsed in for tool calls (set by applyToolFormat;
   * undefined: the output is not parsed: no tools, tool_choice none, or another guided field).
   */
  toolCallFormat?: ToolCallFormat;
  /** OpenAI's end-user id: the router's session affinity key (router_session_affinity). */
  user?: string;
}

/** vLLM's and OpenAI's default for /v1/completions. */
export const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

export function planCompletion(dto: CompletionRequestDto): GenerationPlan {
  if (dto.suffix) throw OpenAIError.badRequest('suffix is not supported', 'suffix');
  const p = dto.prompt;
  const prompts: PromptInput[] =
    typeof p === 'string' ? [{ kind: 'text', text: p }]
    : typeof p[0] === 'string' ? (p as string[]).map((text) => ({ kind: 'text', text }))
    : typeof p[0] === 'number' ? [{ kind: 'tokens', tokenIds: p as number[] }]
    : (p as number[][]).map((tokenIds) => ({ kind: 'tokens', tokenIds }));
  return {
    ...common(dto),
    kind: 'completion',
    prompts,
    echo: dto.echo ?? false,
    logprobs: dto.logprobs,
    maxTokens: dto.max_tokens,
    defaultMaxTokens: COMPLETIONS_DEFAULT_MAX_TOKENS,
  };
}

export function planChat(dto: ChatCompletionRequestDto): GenerationPlan {
  if (dto.top_logprobs !== undefined && !dto.logprobs) {
    throw OpenAIError.badRequest('top_logprobs needs logprobs: true', 'top_logprobs');
  }
  const tools = toolPlanOf(dto);
  const base = common(dto);
  if (base.sampling.guided && isEnforcedToolChoice(tools)) {
    throw OpenAIError.badRequest(`tool_choice "required" or a named function cannot be combined with ${base.guidedParam}: both constrain the whole output`, 'tool_choice');
  }
  return {
    ...base,
    kind: 'chat',
    ...(tools ? { tools } : {}),
    prompts: [
      {
        kind: 'chat',
        messages: dto.messages,
        // tool_choice none: the model is not told about the tools (earlier calls and results in
        // messages still render).
        tools: tools && tools.choice.kind !== 'none' ? [...tools.tools] : undefined,
        addGenerationPrompt: dto.add_generation_prompt ?? true,
        chatTemplate: dto.chat_template,
        templateKwargs: dto.chat_template_kwargs,
      },
    ],
    echo: false,
    logprobs: dto.logprobs ? (dto.top_logprobs ?? 0) : undefined,
    maxTokens: dto.max_completion_tokens ?? dto.max_tokens,
    defaultMaxTokens: 'rest-of-context',
  };
}

/**
 * Fixes how a chat plan with tools handles calls, once the model's tool-call format is known
 * (the tool_call_parser setting, or what the chat template shows): `auto` parses the output;
 * `required` / a named function also constrain it with the format's grammar (sampling.guided).
 * No format for a request that needs one is a 400. Nothing to do without tools, with
 * tool_choice none, or with another guided field (response_format & co. shape the whole output,
 * which is then not parsed for calls).
 */
export function applyToolFormat(plan: GenerationPlan, format: ToolCallFormat | undefined): void {
  const tools = plan.tools;
  if (!tools || tools.choice.kind === 'none' || plan.sampling.guided) return;
  if (!format) {
    throw OpenAIError.badRequest(
      "tools need to know how the model writes tool calls, and its chat template shows no known format (Hermes <tool_call> or Llama 3.1 JSON); set tool_call_parser or pass a chat_template that renders tools",
      'tools',
    );
  }
  const guided = toolChoiceGuided(tools, format);
  if (guided) {
    if (plan.sampling.minTokens) throw OpenAIError.badRequest('min_tokens cannot be combined with tool_choice "required" or a named function (guided decoding)', 'min_tokens');
    if (plan.sampling.ignoreEos) throw OpenAIError.badRequest('ignore_eos cannot be combined with tool_choice "required" or a named function (guided decoding)', 'ignore_eos');
    plan.sampling = { ...plan.sampling, guided };
    plan.guidedParam = 'tools';
  }
  plan.toolCallFormat = format;
}

function common(dto: GenerationRequestDto): Pick<GenerationPlan, 'n' | 'stream' | 'includeUsage' | 'sampling' | 'detokenize' | 'returnTokenIds' | 'guidedParam' | 'user'> {
  if (dto.min_tokens !== undefined && dto.max_tokens !== undefined && dto.min_tokens > dto.max_tokens) {
    throw OpenAIError.badRequest(`min_tokens (${dto.min_tokens}) must not exceed max_tokens (${dto.max_tokens})`, 'min_tokens');
  }
  if (dto.stream_options && !dto.stream) throw OpenAIError.badRequest('stream_options is only allowed with stream: true', 'stream_options');
  const guided = guidedDecodingOf(dto);
  if (guided) {
    // EOS must stay reachable: it is the only way a finished grammar can end the output.
    if (dto.min_tokens) throw OpenAIError.badRequest('min_tokens cannot be combined with guided decoding (response_format, guided_*, structured_outputs)', 'min_tokens');
    if (dto.ignore_eos) throw OpenAIError.badRequest('ignore_eos cannot be combined with guided decoding (response_format, guided_*, structured_outputs)', 'ignore_eos');
  }
  return {
    ...(guided ? { guidedParam: guidedParam(dto) } : {}),
    ...(dto.user !== undefined ? { user: dto.user } : {}),
    n: dto.n ?? 1,
    stream: dto.stream ?? false,
    includeUsage: dto.stream_options?.include_usage ?? false,
    returnTokenIds: dto.return_token_ids ?? false,
    sampling: dropUndefined({
      minTokens: dto.min_tokens,
      stopTokenIds: dto.stop_token_ids,
      ignoreEos: dto.ignore_eos,
      temperature: dto.temperature,
      topP: dto.top_p,
      topK: dto.top_k,
      minP: dto.min_p,
      seed: dto.seed,
      presencePenalty: dto.presence_penalty,
      frequencyPenalty: dto.frequency_penalty,
      repetitionPenalty: dto.repetition_penalty,
      logitBias: dto.logit_bias,
      guided,
    }),
    detokenize: dropUndefined({
      stop: dto.stop === undefined ? undefined : typeof dto.stop === 'string' ? [dto.stop] : dto.stop,
      includeStopStrInOutput: dto.include_stop_str_in_output,
      skipSpecialTokens: dto.skip_special_tokens,
      spacesBetweenSpecialTokens: dto.spaces_between_special_tokens,
    }),
  };
}

/**
 * The sampling parameters of one choice: the plan's, with the resolved max tokens, the
 * logprobs count, and seed + choiceIndex so that n seeded choices differ but are reproducible.
 */
export function samplingForChoice(plan: GenerationPlan, choiceIndex: number, maxTokens: number): SamplingParamsMessage {
  const seed = plan.sampling.seed === undefined ? undefined : plan.sampling.seed + choiceIndex;
  return dropUndefined({ ...plan.sampling, seed, maxTokens, logprobs: plan.logprobs }) as SamplingParamsMessage;
}

/**
 * max_tokens for a prompt: as asked (the tokenizer has checked prompt + max_tokens fits), or the
 * plan's default, capped by what the context leaves.
 */
export function resolveMaxTokens(plan: GenerationPlan, numPromptTokens: number, maxModelLen: number): number {
  const room = maxModelLen - numPromptTokens;
  if (room < 1) {
    throw new OpenAIError(400, `This model's maximum context length is ${maxModelLen} tokens. However, your prompt has ${numPromptTokens} tokens, which leaves no room for output.`, 'invalid_request_error', 'messages', 'context_length_exceeded');
  }
  if (plan.maxTokens !== undefined) return plan.maxTokens;
  return plan.defaultMaxTokens === 'rest-of-context' ? room : Math.min(plan.defaultMaxTokens, room);
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
