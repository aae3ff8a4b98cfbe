import { fmix32 } from './fingerprint.js';

// Math's functions as module constants: a global lookup per call is ~20× slower in a vm context
// (jest's), which would make the host-cost test measure the lookup, not the device.
const { floor, imul } = Math;


const TWO_POW_32 = 2 ** 32;

/**
 * The simulated device's generator for unseeded random sampling (the device is a measuring
 * instrument; the native engine uses mt19937_64 here, whose numbers we do not reproduce):
 * xoshiro128**, seeded from the device seed through fmix32. Uniforms in [0, 1) with 32 bits.
 */
export class DeviceRng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    const lo = seed >>> 0;
    const hi = floor(seed / TWO_POW_32) >>> 0;
    this.s0 = fmix32(lo ^ 0x9e3779b9) | 1;
    this.s1 = fmix32(hi ^ 0x243f6a88);
    this.s2 = fmix32(lo + 0x85a308d3);
    this.s3 = fmix32(hi + 0x13198a2e);
  }

  nextUniform(): number {
    const result = imul(rotl(imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result / TWO_POW_32;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * The uniform of a seeded request at a position: a pure function of both (the engine's rule:
 * a seeded request draws the same at the same position whatever else runs).
 */
export function seededUniform(seed: number, position: number): number {
  const lo = seed >>> 0;
  const hi = floor(seed / TWO_POW_32) >>> 0;
  const a = fmix32(lo ^ fmix32(hi + 0x6a09e667));
  return fmix32(a ^ imul(position + 1, 0x9e3779b1) ^ 0xbb67ae85) / TWO_POW_32;
}
