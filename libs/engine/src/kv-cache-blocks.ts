import { EngineError, toEngineError } from './engine.errors.js';
import { loadNativeAddon } from './native-addon.loader.js';
import type { NativeModelProbe } from './native-addon.types.js';

/** What an engine for a model would need, read from its config.json only (no weights loaded). */
export type ModelProbe = Readonly<NativeModelProbe>;

/**
 * Reads a model's geometry without loading it (di_model_probe). Why a probe of config.json rather
 * than creating a throw-away engine to learn its block size in bytes: creating one loads and
 * repacks every weight (tens of seconds and twice the memory for an 8B model). The probe uses the
 * same C++ geometry as the engine, so kvBlockBytes equals the created engine's info.kvBlockBytes.
 */
export function probeModel(model: string, blockSize?: number, kvCacheDtype?: string): ModelProbe {
  const addon = loadNativeAddon();
  try {
    return addon.probeModel(model, blockSize, kvCacheDtype);
  } catch (error) {
    throw toEngineError(error);
  }
}

const GIB = 1024 ** 3;
/** The engine takes the count as an int32. */
const MAX_BLOCKS = 2 ** 31 - 1;

/** Blocks of `kvBlockBytes` that fit in `spaceGib` GiB (floor); refuses a budget below one block. */
export function kvBlocksForBudget(kvBlockBytes: number, spaceGib: number): number {
  if (!(kvBlockBytes > 0)) throw new EngineError(`kvBlockBytes must be > 0 (got ${kvBlockBytes})`);
  if (!(spaceGib > 0)) throw new EngineError(`cpu_kv_cache_space_gib must be > 0 (got ${spaceGib})`);
  const blocks = Math.floor((spaceGib * GIB) / kvBlockBytes);
  if (blocks < 1) {
    throw new EngineError(
      `cpu_kv_cache_space_gib = ${spaceGib} holds no KV block: one block of this model takes ${kvBlockBytes} bytes ` +
        `(${(kvBlockBytes / GIB).toPrecision(3)} GiB); raise cpu_kv_cache_space_gib or lower block_size`,
    );
  }
  return Math.min(blocks, MAX_BLOCKS);
}

export interface CpuKvCacheRequest {
  model: string;
  blockSize: number;
  /** The configuration's cpu_kv_cache_space_gib. */
  cpuKvCacheSpaceGib: number;
  /** The configuration's kv_cache_dtype (fp8 blocks take about a quarter of float32's bytes). */
  kvCacheDtype?: string;
}

/** The number of KV blocks the CPU backend should allocate for a memory budget. */
export function cpuKvCacheBlocks(request: CpuKvCacheRequest): number {
  return kvBlocksForBudget(probeModel(request.model, request.blockSize, request.kvCacheDtype).kvBlockBytes, request.cpuKvCacheSpaceGib);
}
