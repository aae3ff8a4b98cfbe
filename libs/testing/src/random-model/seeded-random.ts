/**
 * A small deterministic generator (mulberry32) for test weights. Not for anything that needs
 * statistical quality: it only has to be fast, reproducible on every platform and Node version
 * (Math.random is neither seeded nor specified), and different per tensor.
 */
// Bound once: inside jest's vm sandbox, where tests draw the weights, looking `Math` up on every
// call made writing the Llama model take 6.2 s instead of 0.8 s.
const imul = Math.imul;

export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A generator for one named stream (e.g. a tensor) of a seed: its values do not depend on the order streams are drawn in. */
  static forStream(seed: number, name: string): SeededRandom {
    // FNV-1a of the name, mixed with the seed: distinct tensors get unrelated streams.
    let hash = 0x811c9dc5 ^ (seed >>> 0);
    for (let i = 0; i < name.length; i++) hash = imul(hash ^ name.charCodeAt(i), 0x01000193);
    return new SeededRandom(hash);
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** `count` values uniform in [-halfWidth, halfWidth). */
  uniform(count: number, halfWidth: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = (this.next() * 2 - 1) * halfWidth;
    return out;
  }
}
