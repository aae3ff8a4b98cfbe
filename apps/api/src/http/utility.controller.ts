import { Body, Controller, Get, HttpCode, Inject, Post, UseGuards } from '@nestjs/common';
import { ArrayNotEmpty, IsArray, IsBoolean, IsInt, IsOptional, IsString, Min } from 'class-validator';
import { OpenAIError } from '@deepinfer/api-core';
import { HealthReply, Subjects } from '@deepinfer/contracts';
import { detectGpus } from '@deepinfer/gpu';
import type { MessageBus } from '@deepinfer/messaging';
import { MESSAGE_BUS, readVersion } from '@deepinfer/service-kit';
import { StackClient } from '../generation/stack-client.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { RequestBodyValidator } from './request-body.validator.js';

/** POST /tokenize (vLLM's shape): a prompt or chat messages. */
class TokenizeRequestDto {
  @IsOptional() @IsString() model?: string;
  @IsOptional() @IsString() prompt?: string;
  @IsOptional() @IsArray() @ArrayNotEmpty() messages?: unknown[];
  @IsOptional() @IsBoolean() add_special_tokens?: boolean;
  @IsOptional() @IsBoolean() add_generation_prompt?: boolean;
}

/** POST /detokenize (vLLM's shape). */
class DetokenizeRequestDto {
  @IsOptional() @IsString() model?: string;
  @IsArray() @IsInt({ each: true }) @Min(0, { each: true }) tokens!: number[];
}

@Controller()
export class UtilityController {
  constructor(
    private readonly stack: StackClient,
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    private readonly bodies: RequestBodyValidator,
  ) {}

  @Get('version')
  version() {
    return { version: readVersion() };
  }

  @Post('tokenize')
  @HttpCode(200)
  @UseGuards(ApiKeyGuard)
  async tokenize(@Body() body: unknown) {
    const dto = this.bodies.validate(TokenizeRequestDto, body, '/tokenize');
    if ((dto.prompt === undefined) === (dto.messages === undefined)) throw OpenAIError.badRequest('give exactly one of prompt and messages', 'prompt');
    const reply =
      dto.messages !== undefined
        ? await this.stack.chat({ messages: dto.messages, addGenerationPrompt: dto.add_generation_prompt ?? true, addSpecialTokens: dto.add_special_tokens })
        : await this.stack.encode({ text: dto.prompt!, addSpecialTokens: dto.add_special_tokens ?? true });
    return { count: reply.numTokens, max_model_len: reply.maxModelLen, tokens: reply.tokenIds };
  }

  @Post('detokenize')
  @HttpCode(200)
  @UseGuards(ApiKeyGuard)
  async detokenize(@Body() body: unknown) {
    const dto = this.bodies.validate(DetokenizeRequestDto, body, '/detokenize');
    return { prompt: (await this.stack.decode({ tokenIds: dto.tokens })).text };
  }

  /** The executor's GPUs (it reports them in its health details); this host's when it does not. */
  @Get('v1/gpu/info')
  async gpuInfo() {
    const executor = await this.bus.request(Subjects.health('executor'), {}, { timeoutMs: 2000 }, HealthReply).catch(() => undefined);
    const fromExecutor = executor?.details?.['gpu'];
    if (fromExecutor) return { source: 'executor', ...(fromExecutor as object) };
    return { source: 'api-host', ...(await detectGpus()) };
  }
}
