import crypto from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ChoiceState, OpenAIError, resolveMaxTokens, samplingForChoice, StreamGapError, type GenerationPlan, type PromptInput } from '@deepinfer/api-core';
import type { EncodeReply, StreamDelta, StreamOpen } from '@deepinfer/contracts';
import type { Logger } from '@deepinfer/observability';
import { LOGGER } from '@deepinfer/service-kit';
import { DeltaRouter } from './delta-router.js';
import { ReplicaRouter } from './replica-router.js';
import { StackClient } from './stack-client.js';

/** A prompt as encoded by the tokenizer. */
export interface EncodedPrompt {
  tokenIds: number[];
  /** The prompt's text (given, or the rendered chat template, or decoded ids when echo needs it). */
  text?: string;
}

/** One running generation: its choices, and events as their deltas arrive. */
export interface Generation {
  readonly id: string;
  readonly prompts: EncodedPrompt[];
  /** Ordered by OpenAI choice index (prompt-major, then choice). */
  readonly choices: ChoiceState[];
  /** Resolves when every choice has finished (stop, length or error). */
  readonly done: Promise<void>;
  /** Aborts every unfinished choice at the scheduler (client gone). */
  abort(): void;
}

/**
 * Runs a GenerationPlan through the stack: tokenizer (encode/chat, opening one stream per
 * choice), then one submit per choice to the replica the ReplicaRouter chooses; deltas come back through the DeltaRouter.
 * Never waits per token on another service.
 */
@Injectable()
export class GenerationService {
  constructor(
    private readonly stack: StackClient,
    private readonly router: DeltaRouter,
    private readonly replicas: ReplicaRouter,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Starts the generation; `onDelta` is called for every delta applied to a choice, from the
   * first one on (streaming writes its chunks there).
   */
  async start(plan: GenerationPlan, idPrefix: 'cmpl' | 'chatcmpl', onDelta?: (choice: ChoiceState, delta: StreamDelta) => void): Promise<Generation> {
    const id = `${idPrefix}-${crypto.randomBytes(12).toString('hex')}`;
    const choices: ChoiceState[] = [];
    const prompts: EncodedPrompt[] = [];
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    let numFinished = 0;
    const generation: Generation = {
      id,
      prompts,
      choices,
      done,
      abort: () => {
        const open = choices.filter((c) => !c.finished).map((c) => c.requestId);
        this.stack.abort({ requestIds: open, reason: 'abort' });
        for (const c of choices) {
          this.router.unregister(c.requestId);
          this.replicas.release(c.requestId);
          c.fail('aborted');
        }
        resolveDone();
      },
    };
    // Streams opened at a tokenizer whose choices never reached the scheduler (a refused or
    // failed submit): nothing will ever finish them, so a failed start closes them.
    const unsubmitted = new Map<string, string[]>();
    const onFinish = (choice: ChoiceState) => {
      this.router.unregister(choice.requestId);
      this.replicas.release(choice.requestId);
      if (++numFinished === plan.prompts.length * plan.n) resolveDone();
    };

    try {
      for (let p = 0; p < plan.prompts.length; p++) {
        const promptChoices = Array.from({ length: plan.n }, (_, i) => new ChoiceState(`${id}-${p}-${i}`, p * plan.n + i));
        const streams: StreamOpen[] = promptChoices.map((c) => ({ requestId: c.requestId, deltasSubject: this.router.subject, detokenize: plan.detokenize }));
        for (const choice of promptChoices) {
          choices.push(choice);
          this.router.register(choice.requestId, (delta) => this.apply(choice, delta, onFinish, onDelta));
        }
        const encoded = await this.encode(plan.prompts[p]!, plan, streams);
        unsubmitted.set(encoded.tokenizerInstanceId, [...(unsubmitted.get(encoded.tokenizerInstanceId) ?? []), ...promptChoices.map((c) => c.requestId)]);
        const tokenIds = plan.prompts[p]!.kind === 'tokens' ? (plan.prompts[p] as { tokenIds: number[] }).tokenIds : encoded.tokenIds;
        for (const choice of promptChoices) choice.promptTokenIds = tokenIds;
        prompts.push({ tokenIds, text: encoded.prompt ?? (plan.prompts[p]!.kind === 'text' ? (plan.prompts[p] as { text: string }).text : undefined) });
        const maxTokens = resolveMaxTokens(plan, tokenIds.length, encoded.maxModelLen);
        if (tokenIds.length === 0) throw OpenAIError.badRequest('the prompt is empty after tokenization', 'prompt');
        await Promise.all(
          promptChoices.map(async (choice, i) => {
            // Routed after tokenization: the router hashes the prompt's blocks as the scheduler does.
            await this.replicas.submit(
              {
                requestId: choice.requestId,
                promptTokenIds: tokenIds,
                samplingParams: samplingForChoice(plan, i, maxTokens),
                tokenizerInstanceId: encoded.tokenizerInstanceId,
              },
              { user: plan.user },
            );
            // From here the scheduler owns the stream's end (its final output reaches the tokenizer).
            const ids = unsubmitted.get(encoded.tokenizerInstanceId)!;
            ids.splice(ids.indexOf(choice.requestId), 1);
          }),
        );
      }
    } catch (err) {
      generation.abort();
      for (const [tokenizerInstanceId, requestIds] of unsubmitted) {
        if (requestIds.length > 0) this.stack.closeStreams(tokenizerInstanceId, { requestIds });
      }
      throw err;
    }
    return generation;
  }

  private async encode(prompt: PromptInput, plan: GenerationPlan, streams: StreamOpen[]): Promise<EncodeReply> {
    switch (prompt.kind) {
      case 'text':
        return this.stack.encode({ text: prompt.text, maxTokens: plan.maxTokens, streams });
      case 'tokens':
        // The ids are the client's: the tokenizer checks them and the length, and starts the
        // streams from them (so the first output token detokenizes in context).
        return this.stack.encode({ text: '', promptTokenIds: prompt.tokenIds, maxTokens: plan.maxTokens, streams });
      case 'chat':
        return this.stack.chat({
          messages: prompt.messages,
          tools: prompt.tools,
          addGenerationPrompt: prompt.addGenerationPrompt,
          chatTemplate: prompt.chatTemplate,
          templateKwargs: prompt.templateKwargs,
          maxTokens: plan.maxTokens,
          streams,
        });
    }
  }

  private apply(choice: ChoiceState, delta: StreamDelta, onFinish: (c: ChoiceState) => void, onDelta?: (choice: ChoiceState, delta: StreamDelta) => void): void {
    if (choice.finished) return;
    if (delta.seq < 0) {
      choice.fail(delta.error ?? 'failed', delta.errorCode);
    } else {
      try {
        choice.apply(delta);
      } catch (err) {
        if (!(err instanceof StreamGapError)) throw err;
        this.logger.error('lost a delta', { requestId: choice.requestId, err: err.message });
        this.stack.abort({ requestIds: [choice.requestId], reason: 'error' });
        choice.fail(err.message);
      }
    }
    onDelta?.(choice, delta);
    if (choice.finished) onFinish(choice);
  }
}
