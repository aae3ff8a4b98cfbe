import type { EngineSample, EngineSampling } from '@deepinfer/executor-core';
import { fmix32 } from './fingerprint.js';
import { seededUniform } from './device-rng.js';
import { TokenRanking } from './token-ranking.js';

// Math's functions as module constants: a global lookup per call is ~20× slower in a vm context
// (jest's), which would make the host-cost test measure the lookup, not the device.
const { ceil, expm1, floor, fround, imul, log, log1p, max, min } = Math;


const TWO_POW_32 = 2 ** 32;
/** Above this many biased ids, membership is checked through a Set instead of a scan. */
const MAX_SCANNED_BIAS_IDS = 16;
/** Places of the order tried against a guided-decoding mask before its ids are scanned. */
const MAX_WALKED_PLACES = 64;

const isAllowed = (mask: Uint32Array, id: number) => ((mask[id >>> 5]! >>> (id & 31)) & 1) === 1;

/**
 * Sampling on the simulated device (a measuring instrument: these are not a model's tokens, only
 * deterministic functions of the context that behave like tokens). For a context fingerprint
 * (KvFingerprintStore.digest), TokenRanking orders the vocabulary; the model's distribution is
 * geometric over that order: P(rank k) = p₀ (1 − p₀)^k, with p₀ ∈ [0.35, 0.95) drawn from the
 * fingerprint, so the top token carries most of the mass and eos ids (ordinary ids here) come
 * up about once per vocabulary-size tokens.
 *
 * Drawing a rank r:
 * - greedy (temperature ≤ 0, or topK = 1): r = 0;
 * - random: r from the geometric distribution by inverse CDF of a uniform u — seeded requests
 *   u = seededUniform(seed, position) (position = startPos + numTokens, the engine's rule),
 *   others the device generator's draw — truncated to the first K ranks, K the smallest of
 *   topK (> 0), the ranks covering topP of the mass, and those with P ≥ minP × p₀. Temperature's
 *   value and the penalties do not change the draw (the tokens carry no meaning to penalise).
 *
 * logitBias: every token has a pseudo-logit — the drawn token 1, every other id 1 − e/V where
 * e is its place in the order once the drawn token is moved to the front (e ≥ 1, V the
 * vocabulary size), so in [0, 1). A bias adds to its id's pseudo-logit; −Infinity bans it
 * (minTokens bans stop ids this way); the highest pseudo-logit wins, ties to the earlier place.
 * Only the biased ids and the first unbiased id in that order are evaluated, never the whole
 * vocabulary. BOS has none: it is never sampled. If every id is banned, the drawn token is kept.
 *
 * allowedTokenMask (guided decoding): the token is always an allowed one — the drawn or biased
 * winner when allowed, else the allowed id with the earliest place (firstAllowed).
 *
 * Logprobs (numLogprobs ≥ 0): of the model's distribution before biases and sampling settings
 * (the engine reports the raw log-softmax too): log P(rank of the token), and the top
 * numLogprobs ranks with theirs, as float32 values.
 */
export class TokenSampler {
  private readonly ranking: TokenRanking;
  private readonly vocabSize: number;

  constructor(vocabSize: number, bosTokenId: number) {
    this.ranking = new TokenRanking(vocabSize, bosTokenId);
    this.vocabSize = vocabSize;
  }

  /**
   * The sample for a context fingerprint. `engineUniform` is the device generator's draw for
   * this sampling sequence (drawn by the caller for every sampling sequence, in input order).
   */
  sample(digestHi: number, digestLo: number, sampling: EngineSampling, position: number, engineUniform: number): EngineSample {
    const ranking = this.ranking;
    ranking.rekey(digestHi, digestLo);
    const numRanked = ranking.numRanked;
    const p0 = 0.35 + 0.6 * (fmix32(digestHi ^ imul(digestLo, 0x2545f491)) / TWO_POW_32);
    const logQ = log1p(-p0);

    let drawn = 0;
    if (!(sampling.temperature <= 0 || sampling.topK === 1)) {
      const u = sampling.seed !== undefined ? seededUniform(sampling.seed, position) : engineUniform;
      let cap = numRanked;
      if (sampling.topK > 0) cap = min(cap, sampling.topK);
      if (sampling.topP < 1) cap = min(cap, max(1, ceil(log1p(-max(0, sampling.topP)) / logQ)));
      if (sampling.minP > 0) cap = min(cap, floor(log(min(1, sampling.minP)) / logQ) + 1);
      cap = max(1, cap);
      // Inverse CDF of the geometric distribution restricted to ranks [0, cap).
      const mass = -expm1(cap * logQ);
      drawn = min(cap - 1, floor(log1p(-u * mass) / logQ));
    }

    let tokenId = sampling.logitBiasIds.length === 0 ? ranking.idAt(drawn) : this.withBiases(sampling, drawn, numRanked);
    const mask = sampling.allowedTokenMask;
    if (mask && !isAllowed(mask, tokenId)) tokenId = this.firstAllowed(mask, drawn, numRanked) ?? tokenId;
    if (sampling.numLogprobs < 0) return { tokenId };
    const logP0 = log(p0);
    const numTop = min(sampling.numLogprobs, numRanked);
    const topIds: number[] = new Array(numTop);
    const topLogprobs: number[] = new Array(numTop);
    for (let k = 0; k < numTop; k++) {
      topIds[k] = ranking.idAt(k);
      topLogprobs[k] = fround(logP0 + k * logQ);
    }
    return { tokenId, logprob: fround(logP0 + ranking.rankOf(tokenId) * logQ), topIds, topLogprobs };
  }

  /**
   * Guided decoding's mask: the allowed id with the earliest place in the order (the drawn rank
   * first, as for biases; the biases are not weighed against the mask). The first places are
   * walked (a loose mask has an allowed id among them); a tight one is scanned for its ids'
   * ranks instead of walking the whole order. Undefined when the mask allows no rankable id.
   */
  private firstAllowed(mask: Uint32Array, drawn: number, numRanked: number): number | undefined {
    const ranking = this.ranking;
    const walk = min(numRanked, MAX_WALKED_PLACES);
    for (let place = 0; place < walk; place++) {
      const id = ranking.idAt(place === 0 ? drawn : place <= drawn ? place - 1 : place);
      if (isAllowed(mask, id)) return id;
    }
    let best: number | undefined;
    let bestPlace = Infinity;
    for (let word = 0; word < mask.length; word++) {
      for (let bits = mask[word]!; bits !== 0; bits &= bits - 1) {
        const id = word * 32 + (31 - Math.clz32(bits & -bits));
        if (id >= this.vocabSize || id === ranking.bosTokenId) continue;
        const rank = ranking.rankOf(id);
        const place = rank === drawn ? 0 : rank < drawn ? rank + 1 : rank;
        if (place < bestPlace) {
          best = id;
          bestPlace = place;
        }
      }
    }
    return best;
  }

  /** The winner under logitBias (see the class comment); `drawn` is the drawn rank. */
  private withBiases(sampling: EngineSampling, drawn: number, numRanked: number): number {
    const ranking = this.ranking;
    const ids = sampling.logitBiasIds;
    const values = sampling.logitBiasValues;
    const listed = ids.length > MAX_SCANNED_BIAS_IDS ? new Set(ids) : undefined;
    const isListed = (id: number) => (listed ? listed.has(id) : ids.includes(id));
    const placeOf = (rank: number) => (rank === drawn ? 0 : rank < drawn ? rank + 1 : rank);
    const pseudoLogit = (place: number) => (place === 0 ? 1 : 1 - place / this.vocabSize);

    let bestId = -1;
    let bestLogit = -Infinity;
    let bestPlace = Infinity;
    // The first unbiased id in the order (places: the drawn rank first, then the others).
    for (let place = 0; place < numRanked; place++) {
      const rank = place === 0 ? drawn : place <= drawn ? place - 1 : place;
      const id = ranking.idAt(rank);
      if (isListed(id)) continue;
      bestId = id;
      bestLogit = pseudoLogit(place);
      bestPlace = place;
      break;
    }
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const bias = values[i]!;
      if (bias === -Infinity || Number.isNaN(bias) || id === ranking.bosTokenId) continue;
      const place = placeOf(ranking.rankOf(id));
      const logit = pseudoLogit(place) + bias;
      if (logit > bestLogit || (logit === bestLogit && place < bestPlace)) {
        bestId = id;
        bestLogit = logit;
        bestPlace = place;
      }
    }
    return bestId >= 0 ? bestId : ranking.idAt(drawn);
  }
}
