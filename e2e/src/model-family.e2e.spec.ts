import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import OpenAI from 'openai';
import { writeRandomModel, type RandomModel } from '@deepinfer/testing';
import { withVllmParams } from './support/golden.js';
import { startStack, type Stack } from './support/stack.js';

/**
 * Real model families through the whole stack: a random-weight Llama 3.1 (LlamaForCausalLM, llama3
 * RoPE scaling, untied lm_head) and Qwen3 (q/k norms, tied embeddings), each in bf16 sharded
 * safetensors with its production tokenizer and chat template, served by nats-server, the four
 * services and the real engine. One stack per family, shared by its tests.
 *
 * Expectations come from outside the stack: the rendered template is written out by hand and
 * checked against @huggingface/jinja rendering the model's template, token counts come from
 * @huggingface/tokenizers, and the eos ids and their texts are spelled out below.
 */

const MESSAGES = [
  { role: 'system' as const, content: 'You are a terse assistant.' },
  { role: 'user' as const, content: 'Name a colour.' },
];

const FAMILIES = [
  {
    architecture: 'llama' as const,
    servedName: 'llama-3.1-tiny-random',
    // The Llama 3 template the @lenml tokenizer ships: BOS, a header per turn, <|eot_id|> after each.
    renderedChat:
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a terse assistant.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n',
    // <|begin_of_text|> <|start_header_id|> "system" <|end_header_id|> "\n\n" … <|start_header_id|> "assistant" <|end_header_id|> "\n\n"
    promptStartIds: [128000, 128006, 9125, 128007, 271],
    promptEndIds: [128006, 78191, 128007, 271],
    endOfTurn: '<|eot_id|>',
    // Llama 3.1 stops on <|end_of_text|>, <|eom_id|> and <|eot_id|>. The @lenml tokenizer is Llama
    // 3.0's, whose vocabulary still calls 128008 by its old name (3.1 renamed it <|eom_id|>).
    eos: [
      { id: 128001, text: '<|end_of_text|>' },
      { id: 128008, text: '<|reserved_special_token_4|>' },
      { id: 128009, text: '<|eot_id|>' },
    ],
  },
  {
    architecture: 'qwen3' as const,
    servedName: 'qwen3-tiny-random',
    renderedChat: '<|im_start|>system\nYou are a terse assistant.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n',
    // <|im_start|> "system" "\n" … <|im_start|> "assistant" "\n"
    promptStartIds: [151644, 8948, 198],
    promptEndIds: [151644, 77091, 198],
    endOfTurn: '<|im_end|>',
    eos: [
      { id: 151645, text: '<|im_end|>' },
      { id: 151643, text: '<|endoftext|>' },
    ],
  },
];

describe.each(FAMILIES)('$servedName through the whole stack', (family) => {
  let tmp: string;
  let model: RandomModel;
  let tokenizerConfig: Record<string, unknown>;
  let reference: Tokenizer;
  let stack: Stack;
  let client: OpenAI;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-model-family-'));
    // The directory's name is the served model name (the default: the model path's last part).
    model = writeRandomModel({ architecture: family.architecture, directory: path.join(tmp, family.servedName), seed: 1 });
    const tokenizerJson = JSON.parse(fs.readFileSync(path.join(model.directory, 'tokenizer.json'), 'utf8')) as object;
    tokenizerConfig = JSON.parse(fs.readFileSync(path.join(model.directory, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    reference = new Tokenizer(tokenizerJson, tokenizerConfig);
    stack = await startStack(['--model', model.directory]);
    client = new OpenAI({ baseURL: `http://127.0.0.1:${stack.apiPort}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
  });
  afterAll(async () => {
    if (stack) await stack.stop('SIGINT');
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const chat = (params: Omit<OpenAI.ChatCompletionCreateParamsNonStreaming, 'model' | 'messages'>, vllm: Record<string, unknown> = {}) =>
    client.chat.completions.create(withVllmParams({ model: family.servedName, messages: MESSAGES, temperature: 0, ...params }, vllm));

  /** The token counts of a usage (cached_tokens differs between repeats: the prefix cache fills). */
  const counts = (usage: OpenAI.CompletionUsage | undefined) => ({
    prompt_tokens: usage!.prompt_tokens,
    completion_tokens: usage!.completion_tokens,
    total_tokens: usage!.total_tokens,
  });

  /** The prompt's ids as transformers' apply_chat_template(add_generation_prompt=True, tokenize=True) makes them. */
  const referencePromptIds = () => {
    const variables: Record<string, unknown> = {};
    for (const key of ['bos_token', 'eos_token']) if (typeof tokenizerConfig[key] === 'string') variables[key] = tokenizerConfig[key];
    const rendered = new Template(tokenizerConfig['chat_template'] as string).render({ ...variables, messages: MESSAGES, add_generation_prompt: true });
    expect(rendered).toBe(family.renderedChat);
    // The template writes its own special tokens; the tokenizer adds none (add_special_tokens=False).
    return reference.encode(rendered, { add_special_tokens: false }).ids;
  };

  it('lists the served model name with the context length of config.json', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([family.servedName]);
    expect((models.data[0] as unknown as { max_model_len: number }).max_model_len).toBe(model.config['max_position_embeddings']);
  });

  it('builds the prompt with the model’s chat template: prompt_tokens counts the rendered template', async () => {
    const ids = referencePromptIds();
    expect(ids.slice(0, family.promptStartIds.length)).toEqual(family.promptStartIds);
    expect(ids.slice(-family.promptEndIds.length)).toEqual(family.promptEndIds);
    const completion = await chat({ max_tokens: 1 });
    expect(completion.usage).toMatchObject({ prompt_tokens: ids.length, completion_tokens: 1, total_tokens: ids.length + 1 });
    // The tokenizer service's debugging route shows the same prompt and ids.
    const res = await fetch(`http://127.0.0.1:${stack.adminPorts.tokenizer}/tokenize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: MESSAGES, add_generation_prompt: true }),
    });
    expect(await res.json()).toMatchObject({ prompt: family.renderedChat, tokens: ids, count: ids.length });
  });

  // Qwen3's config.json names only <|im_end|>: the stack stops on <|endoftext|> because it reads
  // generation_config.json, as transformers and vLLM do.
  it('tests below every eos id of generation_config.json, the end-of-turn token among them', () => {
    const generationConfig = JSON.parse(fs.readFileSync(path.join(model.directory, 'generation_config.json'), 'utf8')) as { eos_token_id: number[] };
    expect(generationConfig.eos_token_id).toEqual(family.eos.map((e) => e.id));
    for (const { id, text } of family.eos) expect(reference.id_to_token(id)).toBe(text);
    expect(family.eos.map((e) => e.text)).toContain(family.endOfTurn);
  });

  describe.each(family.eos)('eos $text ($id)', (eos) => {
    const bias = { [String(eos.id)]: 100 };

    it('ends the request with finish_reason stop when it is sampled first; the eos token counts as a completion token (as in vLLM)', async () => {
      const numPromptTokens = referencePromptIds().length;
      const completion = await chat({ max_tokens: 12, logit_bias: bias });
      expect(completion.choices[0]!.finish_reason).toBe('stop');
      expect(completion.choices[0]!.message.content).toBe('');
      expect(completion.usage).toMatchObject({ prompt_tokens: numPromptTokens, completion_tokens: 1, total_tokens: numPromptTokens + 1 });
    });

    it('after min_tokens, keeps the text before it and leaves the eos text out (unless include_stop_str_in_output)', async () => {
      // Special tokens are kept in the text, so an eos that reached the output would show.
      const keepSpecial = { skip_special_tokens: false };
      const firstThree = await chat({ max_tokens: 3 }, keepSpecial);
      expect(firstThree.choices[0]!.finish_reason).toBe('length');
      // min_tokens bans the eos for 3 tokens, which are then the greedy ones; the bias forces it 4th.
      const stopped = await chat({ max_tokens: 12, logit_bias: bias }, { ...keepSpecial, min_tokens: 3 });
      expect(stopped.choices[0]!.finish_reason).toBe('stop');
      expect(stopped.choices[0]!.message.content).toBe(firstThree.choices[0]!.message.content);
      expect(stopped.choices[0]!.message.content).not.toContain(eos.text);
      expect(stopped.usage).toMatchObject({ completion_tokens: 4, total_tokens: stopped.usage!.prompt_tokens + 4 });
      const withStop = await chat({ max_tokens: 12, logit_bias: bias }, { ...keepSpecial, min_tokens: 3, include_stop_str_in_output: true });
      expect(withStop.choices[0]!.message.content).toBe(`${firstThree.choices[0]!.message.content}${eos.text}`);
      expect(withStop.usage).toMatchObject(counts(stopped.usage));
    });
  });

  it('without a bias, greedy max_tokens 12 runs to the length limit and repeats exactly', async () => {
    const [first, second] = [await chat({ max_tokens: 12 }), await chat({ max_tokens: 12 })];
    expect(first.choices[0]!.finish_reason).toBe('length');
    expect(first.usage!.completion_tokens).toBe(12);
    expect(first.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(second.choices[0]!.message.content).toBe(first.choices[0]!.message.content);
    expect(second.usage).toMatchObject(counts(first.usage));
  });

  it('refuses a logit_bias id outside the vocabulary with a 400, and keeps serving', async () => {
    const status = await chat({ max_tokens: 2, logit_bias: { [String(model.vocabSize)]: 100 } }).then(
      () => 200,
      (err: { status?: number }) => err.status,
    );
    expect(status).toBe(400);
    // The last id is a token like any other (Llama: a reserved special token; Qwen3: </think>).
    const lastId = model.vocabSize - 1;
    const completion = await chat({ max_tokens: 2, logit_bias: { [String(lastId)]: 100 } });
    expect(completion.usage!.completion_tokens).toBe(2);
    expect(completion.choices[0]!.message.content).toBe(reference.decode([lastId, lastId], { skip_special_tokens: true }));
  });

  it.each([
    { label: 'greedy to the length limit', forceEndOfTurn: false },
    { label: 'the end-of-turn token forced after 5 tokens', forceEndOfTurn: true },
  ])('streams the same text, finish reason and usage as the non-streamed call: $label', async ({ forceEndOfTurn }) => {
    const endOfTurnId = family.eos.find((e) => e.text === family.endOfTurn)!.id;
    const params = { max_tokens: 12, ...(forceEndOfTurn ? { logit_bias: { [String(endOfTurnId)]: 100 } } : {}) };
    const vllm = forceEndOfTurn ? { min_tokens: 5, skip_special_tokens: false } : {};
    const whole = await chat(params, vllm);
    expect(whole.choices[0]!.finish_reason).toBe(forceEndOfTurn ? 'stop' : 'length');
    expect(whole.usage!.completion_tokens).toBe(forceEndOfTurn ? 6 : 12);
    const stream = await client.chat.completions.create(
      withVllmParams({ model: family.servedName, messages: MESSAGES, temperature: 0, ...params, stream: true as const, stream_options: { include_usage: true } }, vllm),
    );
    let text = '';
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        text += choice.delta.content ?? '';
        finish = choice.finish_reason ?? finish;
      }
    }
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(finish).toBe(whole.choices[0]!.finish_reason);
    expect(usage).toMatchObject(counts(whole.usage));
  });
});
