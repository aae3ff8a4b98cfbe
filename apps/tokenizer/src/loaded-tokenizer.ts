import type { DeepInferConfig } from '@deepinfer/config';
import { ensureModel } from '@deepinfer/model-hub';
import type { Logger } from '@deepinfer/observability';
import { ModelTokenizer, readModelContextLength, TokenizerLoadError } from '@deepinfer/tokenizer-core';

/**
 * The model's tokenizer and the context length every prompt is checked against, loaded once at
 * start (a Nest async provider: the service answers nothing until it is here). Immutable.
 */
export class LoadedTokenizer {
  private constructor(
    readonly tokenizer: ModelTokenizer,
    /** Absolute model directory. */
    readonly directory: string,
    /** prompt + max tokens must fit (the `max_model_len` setting, else the model's own). */
    readonly maxModelLen: number,
    /** Where maxModelLen came from, for the log and the admin summary. */
    readonly maxModelLenSource: string,
  ) {}

  /**
   * Resolves `config.model` (path, repository-relative path, HF cache, else a download from the
   * Hub so that a tokenizer started alone has its files), loads the tokenizer
   * files and decides max_model_len: the setting when given, else config.json's (vLLM's rule),
   * else, for a tokenizer-only directory, tokenizer_config's model_max_length with a warning.
   * Throws ConfigError for a missing model (exit 2), ModelDownloadError when the Hub cannot be
   * reached (exit 1: restarted, and the download resumes) and TokenizerLoadError for broken files.
   */
  static async load(config: DeepInferConfig, logger: Logger): Promise<LoadedTokenizer> {
    const startedAt = performance.now();
    const { directory, origin } = await ensureModel(config.model, { logger });
    const [tokenizer, fromModel] = await Promise.all([ModelTokenizer.fromDirectory(directory), readModelContextLength(directory)]);
    let maxModelLen: number;
    let source: string;
    if (config.maxModelLen !== undefined) {
      maxModelLen = config.maxModelLen;
      source = 'max_model_len setting';
      if (fromModel && config.maxModelLen > fromModel.maxModelLen) {
        logger.warn('max_model_len is larger than the model was trained for; quality may drop past it', { maxModelLen, modelMaxLen: fromModel.maxModelLen });
      }
    } else if (fromModel) {
      maxModelLen = fromModel.maxModelLen;
      source = `config.json ${fromModel.derivedFrom}`;
    } else if (tokenizer.modelMaxLength !== null) {
      maxModelLen = tokenizer.modelMaxLength;
      source = 'tokenizer_config.json model_max_length';
      logger.warn('no config.json context length; using tokenizer_config model_max_length (set max_model_len to be sure)', { maxModelLen });
    } else {
      throw new TokenizerLoadError(`${directory}: no context length in config.json or tokenizer_config.json; set max_model_len`);
    }
    logger.info('tokenizer loaded', {
      model: config.model,
      directory,
      origin,
      vocabSize: tokenizer.vocabSize,
      hasChatTemplate: tokenizer.hasChatTemplate,
      maxModelLen,
      maxModelLenSource: source,
      loadMs: Math.round(performance.now() - startedAt),
    });
    return new LoadedTokenizer(tokenizer, directory, maxModelLen, source);
  }
}
