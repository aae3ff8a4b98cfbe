import { Body, Controller, Get, HttpCode, Inject, Post, Res, UseGuards } from '@nestjs/common';
import {
  chatChunk,
  ChatCompletionRequestDto,
  chatLogprobs,
  chatResponse,
  CompletionRequestDto,
  completionChunk,
  completionLogprobs,
  completionResponse,
  OpenAIError,
  planChat,
  planCompletion,
  verifyGuidedGrammar,
  usage,
  usageChunk,
  type ChoiceState,
  type GenerationPlan,
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
import { SseWriter, type SseResponse } from './sse-writer.js';

interface JsonResponse extends SseResponse {
  status(code: number): JsonResponse;
  json(body: unknown): void;
  on(event: 'close', listener: () => void): void;
}

/** The OpenAI routes: completions, chat completions, models. */
@Controller('v1')
@UseGuards(ApiKeyGuard)
export class OpenAIController {
  private readonly servedModelName: string;
  private readonly createdAt = Math.floor(Date.now() / 1000);

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
  async completions(@Body() body: unknown, @Res() res: JsonResponse): Promise<void> {
    const plan = planCompletion(this.bodies.validate(CompletionRequestDto, body, '/v1/completions'));
    this.checkModel((body as { model?: string }).model);
    if (plan.sampling.guided) await verifyGuidedGrammar(plan.sampling.guided, plan.guidedParam ?? 'response_format');
    await this.run(plan, 'cmpl', res, '/v1/completions');
  }

  @Post('chat/completions')
  @HttpCode(200)
  async chatCompletions(@Body() body: unknown, @Res() res: JsonResponse): Promise<void> {
    const plan = planChat(this.bodies.validate(ChatCompletionRequestDto, body, '/v1/chat/completions'));
    this.checkModel((body as { model?: string }).model);
    if (plan.sampling.guided) await verifyGuidedGrammar(plan.sampling.guided, plan.guidedParam ?? 'response_format');
    await this.run(plan, 'chatcmpl', res, '/v1/chat/completions');
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

    const onDelta = (choice: ChoiceState, delta: StreamDelta) => {
      let timing = timings.get(choice);
      if (!timing) timings.set(choice, (timing = new ChoiceTiming(this.metrics, startedAtMs)));
      timing.tokens(delta.tokenIds.length);
      if (!sse || choice.finishReason === 'error') return;
      const finish = openAIFinish(choice);
      const stopReason = choice.finished ? (choice.stopReason ?? null) : null;
      if (plan.kind === 'chat') {
        const first = !sentRole.has(choice);
        const role = first ? (sentRole.add(choice), { role: 'assistant' as const }) : {};
        const logprobs = plan.logprobs !== undefined && delta.logprobs ? chatLogprobs(delta.logprobs) : null;
        const chunk = chatChunk(header, choice.index, { ...role, content: delta.text }, logprobs, finish, stopReason);
        sse.send(plan.returnTokenIds ? withTokenIds(chunk, delta.tokenIds, first ? choice.promptTokenIds : undefined) : chunk);
      } else {
        const offset = textOffsets.get(choice);
        const logprobs = plan.logprobs !== undefined && delta.logprobs ? completionLogprobs(delta.logprobs, offset ?? 0) : null;
        textOffsets.set(choice, (offset ?? 0) + delta.text.length);
        const chunk = completionChunk(header, choice.index, delta.text, logprobs, finish, stopReason);
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
      const error = failed.error?.startsWith('unavailable:') ? OpenAIError.unavailable(failed.error) : new OpenAIError(500, failed.error ?? 'generation failed', 'server_error', null, 'generation_failed');
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
      const response = chatResponse(header, generation.choices.map((c) => ({
        index: c.index,
        message: { role: 'assistant' as const, content: c.text },
        logprobs: plan.logprobs !== undefined ? chatLogprobs(c.logprobs) : null,
        finish_reason: openAIFinish(c),
        stop_reason: c.stopReason ?? null,
        ...(plan.returnTokenIds ? { token_ids: c.tokenIds } : {}),
      })), u);
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

function openAIFinish(choice: ChoiceState): OpenAIFinishReason {
  return choice.finishReason === 'stop' || choice.finishReason === 'length' ? choice.finishReason : null;
}
