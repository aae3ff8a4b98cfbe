import { sampling } from '../test-support/drive-device.js';
import { TokenSampler } from './token-sampler.js';

const maskOf = (vocabSize: number, allowed: Iterable<number>) => {
  const mask = new Uint32Array(Math.ceil(vocabSize / 32));
  for (const id of allowed) mask[id >>> 5]! |= 1 << (id & 31);
  return mask;
};

describe('TokenSampler with a guided-decoding mask', () => {
  const V = 128_256;
  const BOS = 128_000;
  const sampler = new TokenSampler(V, BOS);

  it('always samples an allowed token, greedy or random, loose or tight masks', () => {
    const masks = [
      maskOf(V, [7]), // one token: the order is scanned, not walked
      maskOf(V, [5, 90_000, 128_255]),
      maskOf(V, Array.from({ length: V / 2 }, (_, i) => 2 * i)), // half the vocabulary: found by walking
    ];
    for (const mask of masks) {
      for (let key = 0; key < 200; key++) {
        for (const s of [sampling(), sampling({ temperature: 1, seed: key }), sampling({ temperature: 1, logitBiasIds: Int32Array.of(3), logitBiasValues: Float32Array.of(100) })]) {
          const { tokenId } = sampler.sample(key * 2654435761, key, { ...s, allowedTokenMask: mask }, 10, 0.5);
          expect((mask[tokenId >>> 5]! >>> (tokenId & 31)) & 1).toBe(1);
        }
      }
    }
  });

  it('changes nothing when the unmasked choice is allowed, and never picks BOS', () => {
    for (let key = 0; key < 100; key++) {
      const free = sampler.sample(key, key * 7, sampling(), 3, 0.25).tokenId;
      expect(sampler.sample(key, key * 7, { ...sampling(), allowedTokenMask: maskOf(V, [free, BOS, 1]) }, 3, 0.25).tokenId).toBe(free);
      // Only BOS and one other id allowed: the other one.
      expect(sampler.sample(key, key * 7, { ...sampling(), allowedTokenMask: maskOf(V, [BOS, 42]) }, 3, 0.25).tokenId).toBe(42);
    }
  });
});
