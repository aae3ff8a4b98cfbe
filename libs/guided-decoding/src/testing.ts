// @deepinfer/guided-decoding/testing: test support (the module-boundaries lint rule lets only
// tests import it): random walks under a matcher's masks, and their text.
import { tokenBytes, type GuidedVocabulary } from './grammar.js';

/** What a walk needs of a matcher: GuideMatcher (main thread) or PooledGuide (a worker's). */
export interface WalkableGuide {
  nextMask(): Promise<Uint32Array>;
  accept(tokenId: number): boolean;
}

/**
 * A random walk under the masks (what a model that knows nothing does), seeded: each step picks
 * an allowed token at random, or, with probability `stopChance` when one is allowed, a stop token
 * (so walks finish). Throws if the matcher refuses a token its own mask allowed.
 */
export async function randomWalk(m: WalkableGuide, stops: readonly number[], seed: number, maxTokens = 400, stopChance = 0.5): Promise<{ ids: number[]; stopped: boolean }> {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const ids: number[] = [];
  for (let i = 0; i < maxTokens; i++) {
    const mask = await m.nextMask();
    const allowed: number[] = [];
    for (let w = 0; w < mask.length; w++) {
      for (let bits = mask[w]!; bits !== 0; bits &= bits - 1) allowed.push(w * 32 + (31 - Math.clz32(bits & -bits)));
    }
    const stop = allowed.find((t) => stops.includes(t));
    const pick = stop !== undefined && rand() < stopChance ? stop : allowed[Math.floor(rand() * allowed.length)]!;
    if (!m.accept(pick)) throw new Error(`the matcher refused token ${pick}, which its mask allowed`);
    if (stops.includes(pick)) return { ids, stopped: true };
    ids.push(pick);
  }
  return { ids, stopped: false };
}

/** The text of token ids, decoded as xgrammar decodes the vocabulary (byte-level or sentencepiece). */
export function textOfIds(vocab: GuidedVocabulary, ids: readonly number[]): string {
  return Buffer.concat(ids.map((id) => Buffer.from(tokenBytes(vocab.encodedVocab[id]!, vocab.vocabType)))).toString('utf8');
}
