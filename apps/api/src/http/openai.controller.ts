import { Body, Controller, Get, HttpCode, Inject, Post, Res, UseGuards } from '@nestjs/common';
import {
  applyToolFormat,
  chatChunk,
  createToolCallParser,
  detectToolCallFormat,
  ChatCompletionRequestDto,
  chatLogprobs,
  chatResponse,
  CompletionRequestDto,
  completionChunk,
  completionLogprobs,
  completionResponse,
  OpenAIError,
  generationFailure,
  planChat,
  planCompletion,
  verifyGuidedGrammar,
  usage,
  usageChunk,
  type ChatDelta,
  type ChatMessage,
  type ChoiceState,
  type GenerationPlan,
  type ToolCallFormat,
  type ToolCallParser,
  type ToolParseResult,
  type OpenAIFinishReason,
  type ResponseHeader,
} from '@deepinfer/api-core';
import { defaultServedModelName, type DeepInferConfig } from '@deepinfer/config';
import type { StreamDelta } from '@deepinfer/contracts';
import { CONFIG } from '@deepinfer/service-kit';
import { ApiMetrics, ChoiceTiming } from '../generation/api-metrics.js';
import { GenerationService, type Generation } from '../generation/generation.service.js';
import { ReplicaRouter } from '../generation/replica-router.js';
import { StackClient } from '../generation/stack-client.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { RequestBodyValidator } from './request-body.validator.js';
import { ApiDoc, ApiTag } from './openapi.js';
import { SseWriter, type SseResponse } from './sse-writer.js';

interface JsonResponse extends SseResponse {
  status(code: number): JsonResponse;
  json(body: unknown): void;
  on(event: 'close', listener: () => void): void;
}

/** The OpenAI routes: completions, chat completions, models. */
@ApiTag('openai')
@Controller('v1')
@UseGuards(ApiKeyGuard)
export class OpenAIController {
  private readonly servedModelName: string;
  private readonly createdAt = Math.floor(Date.now() / 1000);
  /** The tool-call format the model's default chat template shows (asked of the tokenizer once). */
  private templateToolFormat?: Promise<ToolCallFormat | undefined>;

  constructor(
    @Inject(CONFIG) private readonly config: DeepInferConfig,
    private readonly generations: GenerationService,
    private readonly stack: StackClient,
    private readonly metrics: ApiMetrics,
    private readonly bodies: RequestBodyValidator,
    private readonly replicas: ReplicaRouter,
  ) {
    this.servedModelName = config.servedModelName ?? defaultServedModelName(config.model);
  }

  @Get('models')
  @ApiDoc({ summary: 'The served model, with max_model_len' })
  async models() {
    const info = await this.stack.tokenizerInfo();
    return {
      object: 'list',
      data: [
        {
          id: this.servedModelName,
          object: 'model',
          created: this.createdAt,
          owned_by: 'deepinfer',
          root: this.config.model,
          parent: null,
          max_model_len: info.maxModelLen,
          // DeepInfer's own: the data-parallel replicas serving the model, as the router sees them.
          replicas: this.replicas.views().map((r) => ({ id: r.replicaId, ready: r.hasExecutor && !r.draining, device: r.device ?? null })),
        },
      ],
    };
  }

  @Post('completions')
  @HttpCode(200)
  @ApiDoc({ summary: 'Text completion (OpenAI, with vLLM\'s extensions)', description: 'A `text_completion` object, or with `stream: true` Server-Sent Events of chunks ending with `data: [DONE]`. `prompt` is a string, strings, token ids or lists of token ids.', body: 'CompletionRequest', streams: true })
  async completions(@Body() body: unknown, @Res() res: JsonResponse): Promise<void> {
    const plan = planCompletion(this.bodies.validate(CompletionRequestDto, body, '/v1/completions'));
    this.checkModel((body as { model?: string }).model);
    if (plan.sampling.guided) await verifyGuidedGrammar(plan.sampling.guided, plan.guidedParam ?? 'response_format');
    await this.run(plan, 'cmpl', res, '/v1/completions');
  }

  @Post('chat/completions')
  @HttpCode(200)
  @ApiDoc({ summary: 'Chat completion through the model\'s chat template', description: 'A `chat.completion` object, or with `stream: true` Server-Sent Events of `chat.completion.chunk` objects ending with `data: [DONE]` (usage in a last chunk with `stream_options.include_usage`).', body: 'ChatCompletionRequest', streams: true })
  async chatCompletions(@Body() body: unknown, @Res() res: JsonResponse): Promise<void> {
    const dto = this.bodies.validate(ChatCompletionRequestDto, body, '/v1/chat/completions');
    const plan = planChat(dto);
    this.checkModel((body as { model?: string }).model);
    if (plan.tools && plan.tools.choice.kind !== 'none' && !plan.sampling.guided) applyToolFormat(plan, await this.toolCallFormat(dto.chat_template));
    if (plan.sampling.guided) await verifyGuidedGrammar(plan.sampling.guided, plan.guidedParam ?? 'response_format');
    await this.run(plan, 'chatcmpl', res, '/v1/chat/completions');
  }

  /**
   * How the model writes tool calls: the tool_call_parser setting, else the format the request's
   * chat_template or the model's default template shows.
   */
  private async toolCallFormat(requestTemplate: string | undefined): Promise<ToolCallFormat | undefined> {
    if (this.config.toolCallParser !== 'auto') return this.config.toolCallParser;
    if (requestTemplate !== undefined) return detectToolCallFormat(requestTemplate);
    this.templateToolFormat ??= this.stack.tokenizerInfo().then((info) => detectToolCallFormat(info.chatTemplate));
    try {
      return await this.templateToolFormat;
    } catch (err) {
      this.templateToolFormat = undefined;
      throw err;
    }
  }

  private checkModel(model: string | undefined): void {
    if (model !== undefined && model !== this.servedModelName) {
      throw OpenAIError.notFound(`The model \`${model}\` does not exist. This server serves \`${this.servedModelName}\`.`, 'model', 'model_not_found');
    }
  }

  private async run(plan: GenerationPlan, prefix: 'cmpl' | 'chatcmpl', res: JsonResponse, route: string): Promise<void> {
    const startedAtMs = performance.now();
    const header: ResponseHeader = { id: '', created: Math.floor(Date.now() / 1000), model: this.servedModelName };
    const sse = plan.stream ? new SseWriter(res) : undefined;
    const timings = new Map<ChoiceState, ChoiceTiming>();
    const sentRole = new Set<ChoiceState>();
    const textOffsets = new Map<ChoiceState, number>();
    // Chat with tools: each choice's text goes through a tool-call parser (streamed: as it comes).
    const format = plan.toolCallFormat;
    const parallel = plan.tools?.parallel ?? true;
    const parsers = new Map<ChoiceState, ToolCallParser>();
    const parserOf = (choice: ChoiceState): ToolCallParser => {
      let parser = parsers.get(choice);
      if (!parser) parsers.set(choice, (parser = createToolCallParser(format!, { parallel })));
      return parser;
    };

    const onDelta = (choice: ChoiceState, delta: StreamDelta) => {
      let timing = timings.get(choice);
      if (!timing) timings.set(choice, (timing = new ChoiceTiming(this.metrics, startedAtMs)));
      timing.tokens(delta.tokenIds.length);
      if (!sse || choice.finishReason === 'error') return;
      const stopReason = choice.finished ? (choice.stopReason ?? null) : null;
      if (plan.kind === 'chat') {
        const first = !sentRole.has(choice);
        const role = first ? (sentRole.add(choice), { role: 'assistant' as const }) : {};
        const logprobs = plan.logprobs !== undefined && delta.logprobs ? chatLogprobs(delta.logprobs) : null;
        let message: ChatDelta = { ...role, content: delta.text };
        let finish = openAIFinish(choice);
        if (format) {
          const parser = parserOf(choice);
          const parsed = mergeParsed(parser.push(delta.text), choice.finished ? parser.finish() : undefined);
          // Text the parser holds (a call in the making) makes no chunk, unless the chunk carries
          // something else: the role, the end, logprobs or token ids.
          if (!first && !choice.finished && parsed.content === '' && parsed.calls.length === 0 && !logprobs && !plan.returnTokenIds) return;
          message = { ...role, ...(parsed.calls.length > 0 && parsed.content === '' ? {} : { content: parsed.content }) };
          if (parsed.calls.length > 0) message.tool_calls = parsed.calls.map((c) => ({ index: c.index, id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } }));
          finish = openAIFinish(choice, parser.toolCalls.length > 0);
        }
        const chunk = chatChunk(header, choice.index, message, logprobs, finish, stopReason);
        sse.send(plan.returnTokenIds ? withTokenIds(chunk, delta.tokenIds, first ? choice.promptTokenIds : undefined) : chunk);
      } else {
        const offset = textOffsets.get(choice);
        const logprobs = plan.logprobs !== undefined && delta.logprobs ? completionLogprobs(delta.logprobs, offset ?? 0) : null;
        textOffsets.set(choice, (offset ?? 0) + delta.text.length);
        const chunk = completionChunk(header, choice.index, delta.text, logprobs, openAIFinish(choice), stopReason);
        sse.send(plan.returnTokenIds ? withTokenIds(chunk, delta.tokenIds, offset === undefined ? choice.promptTokenIds : undefined) : chunk);
      }
    };

    let generation: Generation;
    try {
      generation = await this.generations.start(plan, prefix, onDelta);
    } catch (err) {
      this.metrics.requests.inc({ route, status: err instanceof OpenAIError ? String(err.status) : '500' });
      throw err;
    }
    header.id = generation.id;
    res.on('close', () => {
      if (generation.choices.some((c) => !c.finished)) generation.abort();
    });
    await generation.done;

    const failed = generation.choices.find((c) => c.finishReason === 'error');
    const promptTokens = generation.prompts.reduce((n, p) => n + p.tokenIds.length, 0);
    const completionTokens = generation.choices.reduce((n, c) => n + c.numOutputTokens, 0);
    const cachedTokens = generation.choices.filter((c) => c.index % plan.n === 0).reduce((n, c) => n + c.numCachedTokens, 0);
    const u = usage(promptTokens, completionTokens, cachedTokens);
    this.metrics.e2eLatency.observe((performance.now() - startedAtMs) / 1000);
    this.metrics.promptTokens.inc(promptTokens);
    this.metrics.generationTokens.inc(completionTokens);
    for (const c of generation.choices) if (c.finishReason) this.metrics.finished.inc({ finished_reason: c.finishReason });

    if (failed) {
      // A failure with a protocol code keeps its status (a grammar the executor refused: 400; a
      // lost service or replica: 503); one without is the request's own (500). Streamed, it is
      // still a plain error response when nothing was sent: onDelta sends nothing for a failed
      // choice, and a refused grammar fails its choices before they produce anything.
      const error = generationFailure(failed.error ?? 'generation failed', failed.errorCode);
      this.metrics.requests.inc({ route, status: String(error.status) });
      if (sse?.started) {
        sse.send(error.toBody());
        sse.done();
        return;
      }
      throw error;
    }
    this.metrics.requests.inc({ route, status: '200' });
    if (sse) {
      if (!sse.started) {
        // Nothing was generated (e.g. max_tokens reached by an empty delta): still a valid stream.
        for (const c of generation.choices) onDelta(c, { requestId: c.requestId, seq: 0, text: '', tokenIds: [] });
      }
      if (plan.includeUsage) sse.send(usageChunk(header, plan.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', u));
      sse.done();
      return;
    }
    if (plan.echo) {
      for (const prompt of generation.prompts) prompt.text ??= (await this.stack.decode({ tokenIds: prompt.tokenIds, skipSpecialTokens: false })).text;
    }
    if (plan.kind === 'chat') {
      const response = chatResponse(header, generation.choices.map((c) => {
        let message: ChatMessage = { role: 'assistant', content: c.text };
        let calls = 0;
        if (format) {
          const parser = createToolCallParser(format, { parallel });
          const parsed = mergeParsed(parser.push(c.text), parser.finish());
          calls = parsed.calls.length;
          message = { role: 'assistant', content: calls > 0 && parsed.content.trim() === '' ? null : parsed.content };
          if (calls > 0) message.tool_calls = parsed.calls.map((t) => ({ id: t.id, type: 'function' as const, function: { name: t.name, arguments: t.arguments } }));
        }
        return {
        index: c.index,
        message,
        logprobs: plan.logprobs !== undefined ? chatLogprobs(c.logprobs) : null,
        finish_reason: openAIFinish(c, calls > 0),
        stop_reason: c.stopReason ?? null,
        ...(plan.returnTokenIds ? { token_ids: c.tokenIds } : {}),
        };
      }), u);
      // One conversation, one prompt: vLLM puts its ids beside the choices.
      res.status(200).json(plan.returnTokenIds ? { ...response, prompt_token_ids: generation.choices[0]?.promptTokenIds ?? [] } : response);
      return;
    }
    res.status(200).json(
      completionResponse(header, generation.choices.map((c) => {
        const prompt = plan.echo ? (generation.prompts[Math.floor(c.index / plan.n)]?.text ?? '') : '';
        return {
          index: c.index,
          text: prompt + c.text,
          logprobs: plan.logprobs !== undefined ? completionLogprobs(c.logprobs, prompt.length) : null,
          finish_reason: openAIFinish(c),
          stop_reason: c.stopReason ?? null,
          ...(plan.returnTokenIds ? { prompt_token_ids: c.promptTokenIds, token_ids: c.tokenIds } : {}),
        };
      }), u),
    );
  }
}

/** A stream chunk's one choice with its token ids (and its prompt's, on the choice's first chunk). */
function withTokenIds<T extends { choices: object[] }>(chunk: T, tokenIds: readonly number[], promptTokenIds: readonly number[] | undefined): T {
  const choice = { ...chunk.choices[0]!, token_ids: tokenIds, ...(promptTokenIds ? { prompt_token_ids: promptTokenIds } : {}) };
  return { ...chunk, choices: [choice] };
}

/** A finished choice's OpenAI reason: `tool_calls` when it stopped (not cut by length) after making calls. */
function openAIFinish(choice: ChoiceState, madeToolCalls = false): OpenAIFinishReason {
  if (choice.finishReason === 'stop') return madeToolCalls ? 'tool_calls' : 'stop';
  return choice.finishReason === 'length' ? 'length' : null;
}

/** One push's result and, on a choice's last delta, the finish's. */
function mergeParsed(a: ToolParseResult, b: ToolParseResult | undefined): ToolParseResult {
  return b ? { content: a.content + b.content, calls: [...a.calls, ...b.calls] } : a;
}
