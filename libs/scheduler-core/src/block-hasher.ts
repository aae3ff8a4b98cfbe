import { createHash, hash } from 'node:crypto';

/**
 * Identity of a full KV block's contents: 132 bits of a SHA-256 digest, base64url (22 characters).
 * Chained: a block's hash covers its parent's hash, so equal hashes mean equal whole prefixes.
 * SHA-256 rather than a fast non-cryptographic hash because prefix-cache hits cross tenants: a
 * crafted collision would let one client read KV computed from another's context (the reason
 * vLLM moved to SHA-256). Cost measured here: ≈ 2 µs per 16-token block, paid once per full block
 * per request (docs/performance.md, "Scheduler").
 */
export type BlockHash = string & { readonly __brand: 'BlockHash' };

const HASH_LENGTH_CHARS = 22;
const ROOT_DOMAIN = 'deepinfer.kv-block.v1\0';

/**
 * Computes chained block hashes. Owns a scratch buffer for the token bytes, so one hasher
 * belongs to one KV cache manager (no shared mutable state).
 */
export class BlockHasher {
  /** [HASH_LENGTH_CHARS bytes of the parent hash (latin1), blockSize int32 LE token ids]. */
  private readonly input: Buffer;
  private readonly tokens: Int32Array;
  private readonly tokenBytes: Uint8Array;

  constructor(readonly blockSize: number) {
    this.input = Buffer.alloc(HASH_LENGTH_CHARS + 4 * blockSize);
    // HASH_LENGTH_CHARS is not a multiple of 4: the tokens get their own aligned buffer.
    this.tokens = new Int32Array(blockSize);
    this.tokenBytes = new Uint8Array(this.tokens.buffer);
  }

  /**
   * The parent hash of a request's first block. `extraKey` carries everything besides token ids
   * that changes the KV contents or must separate caches: model identity and revision, adapter,
   * per-request cache salt. It enters the chain once, at the root, and so every block after it.
   */
  hashRoot(extraKey: string): BlockHash {
    return digest(createHash('sha256').update(ROOT_DOMAIN, 'latin1').update(extraKey, 'utf8'));
  }

  /** Hash of the full block `tokenIds[start, start + blockSize)` whose parent hashes to `parent`. */
  hashBlock(parent: BlockHash, tokenIds: readonly number[], start: number): BlockHash {
    const tokens = this.tokens;
    for (let i = 0; i < tokens.length; i++) tokens[i] = tokenIds[start + i];
    const input = this.input;
    input.write(parent, 0, HASH_LENGTH_CHARS, 'latin1');
    input.set(this.tokenBytes, HASH_LENGTH_CHARS);
    // One-shot crypto.hash (Node ≥ 20.12) costs ~30% less than a Hash object per block.
    return hash('sha256', input, 'base64url').slice(0, HASH_LENGTH_CHARS) as BlockHash;
  }
}

/**
 * The root key of a request's block-hash chain: the model's cache key (its revision) and the
 * request's cache salt. The scheduler and the KV-aware router (libs/kv-router) both call this, so
 * the router computes exactly the hashes the scheduler registers.
 */
export function rootExtraKey(modelCacheKey: string, cacheSalt: string | undefined): string {
  return JSON.stringify([modelCacheKey, cacheSalt ?? null]);
}

/**
 * The chained hashes of the first `numBlocks` full blocks of `tokenIds` under `root`, as the
 * scheduler's KV cache manager computes them (one per block, each covering its parent).
 */
export function prefixBlockHashes(hasher: BlockHasher, root: BlockHash, tokenIds: readonly number[], numBlocks: number): BlockHash[] {
  const hashes = new Array<BlockHash>(numBlocks);
  let parent = root;
  for (let i = 0; i < numBlocks; i++) {
    parent = hasher.hashBlock(parent, tokenIds, i * hasher.blockSize);
    hashes[i] = parent;
  }
  return hashes;
}

function digest(hash: ReturnType<typeof createHash>): BlockHash {
  return hash.digest('base64url').slice(0, HASH_LENGTH_CHARS) as BlockHash;
}
