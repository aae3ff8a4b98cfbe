import { Command } from 'commander';
import { CONFIG_ERROR_EXIT_CODE, ConfigError, isExplicit } from '@deepinfer/config';
import { cpuKvCacheBlocks, engineOptionsFor, EngineSettingError, generate, loadEngine, probeModel, settingErrorToConfigError, type NativeSamplingParams } from '@deepinfer/engine';
import { ensureModel, ModelDownloadError } from '@deepinfer/model-hub';
import { detectGpus } from '@deepinfer/gpu';
import { createLogger } from '@deepinfer/observability';
import { ModelTokenizer } from '@deepinfer/tokenizer-core';
import { addConfigOptions, resolveConfigOrExit } from '../config-options.js';
import { GenerateFlagError, parseGenerateFlags, type GenerateFlags } from './generate-flags.js';

const progress = (line: string) => process.stderr.write(`deepinfer generate: ${line}\n`);

function fail(message: string, code = 1): never {
  process.stderr.write(`deepinfer generate: ${message}\n`);
  process.exit(code);
}

/**
 * `deepinfer generate`: the engine in this process on one prompt, no services and no NATS. The
 * prompt is encoded with the model's own tokenizer (BOS added as the tokenizer config says, so
 * an empty prompt is just BOS), the continuation is streamed to stdout token by token through the
 * incremental detokenizer, and progress goes to stderr so stdout is only the generated text.
 */
export function generateCommand(): Command {
  return addConfigOptions(
    new Command('generate')
      .description('Generate text from a prompt with the engine in this process (no services, no NATS)')
      .option('--prompt <text>', 'the prompt (empty: generate from BOS)', '')
      .option('--max-tokens <n>', 'most tokens to generate', '64')
      .option('--temperature <t>', 'sampling temperature; 0 is greedy', '0')
      .option('--top-p <p>', 'nucleus sampling: keep the smallest set of tokens with this much probability', '1')
      .option('--top-k <k>', 'keep only the k most likely tokens; 0 is off', '0')
      .addHelpText('after', '\n--seed also seeds this generation\'s sampling (reproducible draws); without it the engine generator (seed 0) is used.'),
  ).action(async (opts: Record<string, unknown>) => {
    let flags: GenerateFlags;
    try {
      flags = parseGenerateFlags(opts);
    } catch (error) {
      if (error instanceof GenerateFlagError) fail(error.message, 2);
      throw error;
    }
    const resolved = resolveConfigOrExit(opts, 'generate');
    const { config } = resolved;
    if (config.device === 'sim') fail('device = sim: the simulator is a measuring instrument for the services (deepinfer serve); generate needs a real engine (cpu, cuda or auto)', 2);
    let modelDir: string;
    try {
      // A Hub id not in the cache is downloaded first (a bar on a terminal, else a log line per file).
      modelDir = (await ensureModel(config.model, { logger: createLogger({ name: 'generate', level: config.logLevel, format: config.logFormat }) })).directory;
    } catch (error) {
      if (error instanceof ConfigError) fail(error.message, CONFIG_ERROR_EXIT_CODE);
      if (error instanceof ModelDownloadError) fail(error.message);
      throw error;
    }
    // `deepinfer generate … | head` closes stdout early: stop quietly rather than crash on EPIPE.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => process.exit(error.code === 'EPIPE' ? 0 : 1));

    try {
      const tokenizer = await ModelTokenizer.fromDirectory(modelDir);
      const promptTokenIds = tokenizer.encode(flags.prompt);
      if (promptTokenIds.length === 0) fail('the prompt encodes to no tokens and this tokenizer adds no BOS; give a non-empty --prompt');

      // KV cache on the CPU: only what this one sequence can use, capped by cpu_kv_cache_space_gib
      // (the whole budget would be allocated and zeroed up front for nothing). On CUDA (device
      // cuda, or auto with a usable GPU) the engine's memory plan sizes it.
      const probe = probeModel(modelDir, config.blockSize);
      const contextLength = Math.min(probe.maxPositionEmbeddings, config.maxModelLen ?? Infinity);
      if (promptTokenIds.length >= contextLength) fail(`the prompt has ${promptTokenIds.length} tokens; the context length is ${contextLength}`);
      const maxTokens = Math.min(flags.maxTokens, contextLength - promptTokenIds.length);
      const needBlocks = Math.ceil((promptTokenIds.length + maxTokens) / config.blockSize);
      // Device auto: CUDA when nvidia-smi sees a GPU (the engine then checks that it is usable), as the executor decides.
      const backend = config.device === 'auto' ? ((await detectGpus()).available ? 'auto' : 'cpu') : config.device;
      const budgetBlocks = cpuKvCacheBlocks({ model: modelDir, blockSize: config.blockSize, cpuKvCacheSpaceGib: config.cpuKvCacheSpaceGib, kvCacheDtype: config.kvCacheDtype });
      if (backend === 'cpu' && budgetBlocks < needBlocks) {
        fail(`cpu_kv_cache_space_gib = ${config.cpuKvCacheSpaceGib} holds ${budgetBlocks} KV blocks; this generation needs ${needBlocks}`, 2);
      }

      progress(`loading ${modelDir} (${promptTokenIds.length} prompt tokens)`);
      const started = performance.now();
      // The settings the executor service would use (dtype, kv_cache_dtype, cuda_*), through the same mapping.
      const engine = await loadEngine(engineOptionsFor(config, modelDir, backend, backend === 'cpu' ? needBlocks : undefined)).catch((error: unknown) => {
        if (error instanceof EngineSettingError) fail(settingErrorToConfigError(error, config).message, CONFIG_ERROR_EXIT_CODE);
        throw error;
      });
      const { info } = engine;
      progress(
        `loaded ${info.architecture} (${info.weightDtype}, ${info.numLayers} layers, vocab ${info.vocabSize}) on ${info.backend} ` +
          `with ${info.numThreads} threads in ${Math.round(performance.now() - started)} ms; ${info.numKvBlocks} KV blocks of ${info.blockSize} tokens`,
      );

      const sampling: NativeSamplingParams = {
        temperature: flags.temperature,
        topP: flags.topP,
        topK: flags.topK,
        seed: isExplicit(resolved, 'seed') ? config.seed : undefined,
      };
      const stopTokenIds = [...new Set([...tokenizer.eosTokens.map((t) => t.id), ...info.eosTokenIds])];
      const detokenizer = tokenizer.createDetokenizer({ promptTokenIds });
      const generation = generate(engine, {
        promptTokenIds,
        maxTokens,
        sampling,
        stopTokenIds,
        prefillChunkTokens: config.maxNumBatchedTokens,
      });
      const genStart = performance.now();
      let count = 0;
      let next = await generation.next();
      while (!next.done) {
        count++;
        process.stdout.write(detokenizer.pushOne(next.value.tokenId));
        next = await generation.next();
      }
      process.stdout.write(detokenizer.finish() + '\n');
      const seconds = (performance.now() - genStart) / 1000;
      const reason = next.value.finishReason === 'stop' ? `stop (eos id ${next.value.stopTokenId})` : 'length';
      progress(`${count} tokens in ${seconds.toFixed(2)} s (${(count / Math.max(seconds, 1e-9)).toFixed(1)} tokens/s), finish: ${reason}`);
      engine.close();
    } catch (error) {
      // Engine, tokenizer and loader errors carry a complete message; a stack adds nothing.
      fail(error instanceof Error ? error.message : String(error));
    }
  });
}
