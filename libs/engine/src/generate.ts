import { BlockAllocator } from './block-allocator.js';
import type { Engine } from './engine.js';
import { EngineError } from './engine.errors.js';
import type { NativeSamplingParams } from './engine.types.js';

export interface GenerateOptions {
  /** The prompt's token ids, BOS included when the model wants one (what the tokenizer encodes). */
  promptTokenIds: readonly number[];
  /** Most tokens to generate. Generation also stops at the model's context length. */
  maxTokens: number;
  sampling?: NativeSamplingParams;
  /** Stop (without yielding it) when one of these is sampled. Default: the model's eos ids. */
  stopTokenIds?: readonly number[];
  /** Prefill the prompt in chunks of at most this many tokens. Default: one step. */
  prefillChunkTokens?: number;
  /** Where KV blocks come from. Default: a fresh allocator over all of the engine's blocks. */
  allocator?: BlockAllocator;
}

export interface GeneratedToken {
  tokenId: number;
  /** Raw log-probability of the token, when sampling.numLogprobs >= 0. */
  logprob?: number;
}

export interface GenerateResult {
  /** `stop`: a stop token was sampled; `length`: maxTokens or the context length was reached. */
  finishReason: 'stop' | 'length';
  /** The stop token sampled (not yielded), when finishReason is `stop`. */
  stopTokenId?: number;
  numTokens: number;
}

/** Engines with a generate() running: two at once would write each other's KV blocks. */
const generating = new WeakSet<Engine>();

/**
 * In-process generation of one sequence: prefill, then one decode step per token, yielding each
 * token as soon as it is sampled. This is a convenience for the CLI and tests; serving goes
 * through the scheduler (libs/scheduler-core), which batches many sequences per step. While it
 * runs, generate() owns the engine: do not call engine.step() yourself, and a second generate()
 * on the same engine is refused.
 */
export async function* generate(engine: Engine, options: GenerateOptions): AsyncGenerator<GeneratedToken, GenerateResult, undefined> {
  const { promptTokenIds: prompt, maxTokens } = options;
  const { maxPositionEmbeddings: maxPos, blockSize } = engine.info;
  if (prompt.length === 0) throw new EngineError('generate: the prompt is empty (it needs at least one token, e.g. BOS)');
  if (prompt.length > maxPos) {
    throw new EngineError(`generate: the prompt has ${prompt.length} tokens but the model's context is ${maxPos}`);
  }
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new EngineError(`generate: maxTokens must be an integer >= 0 (got ${maxTokens})`);
  const chunk = options.prefillChunkTokens ?? prompt.length;
  if (!Number.isInteger(chunk) || chunk < 1) throw new EngineError(`generate: prefillChunkTokens must be an integer >= 1 (got ${chunk})`);
  if (generating.has(engine)) throw new EngineError('generate: another generate() is running on this engine; an engine runs one sequence here');
  generating.add(engine);

  const allocator = options.allocator ?? new BlockAllocator(engine.info.numKvBlocks);
  const stop = new Set(options.stopTokenIds ?? engine.info.eosTokenIds);
  const sampling = options.sampling ?? {};
  const penalties =
    (sampling.presencePenalty ?? 0) !== 0 || (sampling.frequencyPenalty ?? 0) !== 0 || (sampling.repetitionPenalty ?? 1) !== 1;
  // Known tokens (prompt then outputs) in one buffer; steps pass views of it (the addon copies).
  const tokens = new Int32Array(prompt.length + maxTokens);
  tokens.set(prompt);
  const blockTable = new Int32Array(Math.ceil(maxPos / blockSize));
  const blocks: number[] = [];
  let known = prompt.length;
  let computed = 0;
  let generated = 0;
  try {
    while (generated < maxTokens && known <= maxPos) {
      const end = Math.min(known, computed + chunk);
      while (blocks.length * blockSize < end) {
        const id = allocator.allocate();
        blockTable[blocks.length] = id;
        blocks.push(id);
      }
      const sample = end === known;
      const out = await engine.step([
        {
          tokenIds: tokens.subarray(computed, end),
          startPos: computed,
          blockTable: blockTable.subarray(0, blocks.length),
          sample,
          sampling,
          ...(penalties ? { promptIds: tokens.subarray(0, prompt.length), outputIds: tokens.subarray(prompt.length, known) } : {}),
        },
      ]);
      computed = end;
      if (!sample) continue;
      const tokenId = out.tokenIds[0]!;
      if (stop.has(tokenId)) return { finishReason: 'stop', stopTokenId: tokenId, numTokens: generated };
      tokens[known++] = tokenId;
      generated++;
      const logprob = out.logprobs[0]!;
      yield Number.isNaN(logprob) ? { tokenId } : { tokenId, logprob };
    }
    return { finishReason: 'length', numTokens: generated };
  } finally {
    allocator.release(blocks);
    generating.delete(engine);
  }
}
