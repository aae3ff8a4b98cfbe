import type { ModelShape } from '../model-shape/model-shape.js';

// Math's functions as module constants: a global lookup per call is ~20× slower in a vm context
// (jest's), which would make the host-cost test measure the lookup, not the device.
const { imul } = Math;

/**
 * Hashing of the simulated device's (a measuring instrument's) KV fingerprints. A fingerprint is
 * 64 bits kept as two 32-bit lanes (hi, lo), so that everything stays in 32-bit integer
 * arithmetic (Math.imul), which V8 runs without allocating. Collisions: ~2⁻⁶⁴ per comparison, far
 * below anything a test could hit by chance.
 */

/** MurmurHash3's 32-bit finaliser: every input bit flips each output bit with probability ~½. */
export function fmix32(x: number): number {
  x ^= x >>> 16;
  x = imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * The KV written at a position: (hi, lo) of the position before it (or the model's root at
 * position 0), mixed with the token and the position. Position enters like RoPE does: the same
 * tokens at other positions give other K/V.
 */
export function chainLo(prevHi: number, prevLo: number, tokenId: number, position: number): number {
  return fmix32(prevLo ^ imul(tokenId + 1, 0x9e3779b1) ^ fmix32(prevHi + position));
}

export function chainHi(prevHi: number, prevLo: number, tokenId: number, position: number): number {
  return fmix32(prevHi ^ imul(position + 1, 0x7feb352d) ^ fmix32(prevLo + tokenId + 0x632be5ab));
}

/** Folds one more (hi, lo) pair, the index-th, into a running digest: order matters. */
export function foldLo(digestHi: number, digestLo: number, hi: number, lo: number, index: number): number {
  return fmix32(digestLo ^ lo ^ imul(index + 1, 0x27d4eb2f) ^ fmix32(digestHi ^ hi));
}

export function foldHi(digestHi: number, digestLo: number, hi: number, lo: number, index: number): number {
  return fmix32(digestHi ^ imul(hi + index, 0x165667b1) ^ fmix32(digestLo + lo));
}

/** A 32-bit hash of a string (FNV-1a, then finalised). */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = imul(h ^ text.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/**
 * The fingerprint "before position 0" of a model: its architecture and sizes, so that two
 * different models give different tokens for the same prompt. The device seed does not enter
 * (as in the engine, it only drives unseeded random sampling).
 */
export function modelRoot(shape: ModelShape): { hi: number; lo: number } {
  const key = JSON.stringify([
    shape.architecture,
    shape.numLayers,
    shape.hiddenSize,
    shape.intermediateSize,
    shape.numHeads,
    shape.numKvHeads,
    shape.headDim,
    shape.vocabSize,
    shape.tieWordEmbeddings,
  ]);
  const lo = hashString(key);
  return { hi: hashString(`${key}#${lo}`), lo };
}
