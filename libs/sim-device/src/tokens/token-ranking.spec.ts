import { TokenRanking } from './token-ranking.js';

describe('TokenRanking', () => {
  it.each([
    [2, -1],
    [5, 0],
    [1000, 1],
    [1000, -1],
    [4099, 4098],
  ])('orders a vocabulary of %i (BOS %i) as a permutation of the ids other than BOS, in both directions', (vocabSize, bos) => {
    const ranking = new TokenRanking(vocabSize, bos);
    for (const key of [[0, 0], [1, 2], [0xdeadbeef, 0x12345678]] as const) {
      ranking.rekey(key[0], key[1]);
      const ids = Array.from({ length: ranking.numRanked }, (_, k) => ranking.idAt(k));
      expect(new Set(ids).size).toBe(ranking.numRanked);
      expect(ids.every((id) => id >= 0 && id < vocabSize && id !== bos)).toBe(true);
      ids.forEach((id, k) => expect(ranking.rankOf(id)).toBe(k));
      if (bos >= 0) expect(ranking.rankOf(bos)).toBe(-1);
    }
  });

  it('gives another order for another key, with the top id spread over the vocabulary', () => {
    const ranking = new TokenRanking(128_256, 128_000);
    const tops = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      ranking.rekey(i * 2654435761, i);
      tops.add(ranking.idAt(0));
    }
    expect(tops.size).toBeGreaterThan(1980); // ~2000 distinct of 128K: no visible bias
  });
});
