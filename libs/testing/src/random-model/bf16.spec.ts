import { bf16BitsToF32, encodeBf16, f32ToBf16Bits } from './bf16.js';

/** Independent reference: of the two bf16 values around x, the nearer one, ties to the even bit pattern. */
function nearestBf16(x: number): number {
  const f = new Float32Array([x]);
  const truncated = new Uint32Array(f.buffer)[0]! >>> 16;
  const candidates = [truncated, truncated + 1].map((bits) => ({ bits, value: new Float32Array(new Uint32Array([bits << 16]).buffer)[0]! }));
  const [a, b] = candidates.map((c) => Math.abs(c.value - f[0]!));
  if (a! < b!) return candidates[0]!.bits;
  if (b! < a!) return candidates[1]!.bits & 0xffff;
  return (candidates[0]!.bits % 2 === 0 ? candidates[0]! : candidates[1]!).bits & 0xffff;
}

describe('bf16', () => {
  it('keeps exactly representable values', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(-2)).toBe(0xc000);
    expect(f32ToBf16Bits(0)).toBe(0x0000);
    expect(f32ToBf16Bits(-0)).toBe(0x8000);
    expect(f32ToBf16Bits(Infinity)).toBe(0x7f80);
    expect(f32ToBf16Bits(-Infinity)).toBe(0xff80);
    const changed: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = bf16BitsToF32(bits);
      if (!Number.isNaN(value) && f32ToBf16Bits(value) !== bits) changed.push(bits);
    }
    expect(changed).toEqual([]);
  });

  it('rounds half-way cases to the even neighbour and others to the nearest', () => {
    // bf16 keeps 7 mantissa bits: around 1 its step is 2^-7.
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // half-way between 0x3f80 (even) and 0x3f81
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // half-way between 0x3f81 and 0x3f82 (even)
    expect(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81); // just above half-way: up
    expect(f32ToBf16Bits(1 + 2 ** -8 - 2 ** -20)).toBe(0x3f80); // just below: down
    expect(f32ToBf16Bits(-(1 + 3 * 2 ** -8))).toBe(0xbf82);
    // Rounding up carries into the exponent; the largest finite f32 rounds to infinity.
    expect(f32ToBf16Bits(2 - 2 ** -9)).toBe(0x4000);
    expect(f32ToBf16Bits(3.4028234663852886e38)).toBe(0x7f80);
  });

  it('agrees with a nearest-value search on 100,000 f32 values across the range', () => {
    const words = new Uint32Array(100_000);
    let state = 12345;
    for (let i = 0; i < words.length; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      words[i] = (state ^ (state << 7)) >>> 0;
    }
    const values = new Float32Array(words.buffer);
    let checked = 0;
    const wrong: number[] = [];
    for (const value of values) {
      if (!Number.isFinite(value) || Math.abs(value) > 3e38) continue;
      if (f32ToBf16Bits(value) !== nearestBf16(value)) wrong.push(value);
      checked++;
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(90_000);
  });

  it('keeps NaN a NaN, even one whose payload is only in the low bits', () => {
    const lowPayloadNaN = new Float32Array(new Uint32Array([0x7f800001]).buffer)[0]!;
    expect(Number.isNaN(lowPayloadNaN)).toBe(true);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(lowPayloadNaN)))).toBe(true);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
  });

  it('encodes little-endian, two bytes per value', () => {
    expect([...encodeBf16([1, -2, 0.5])]).toEqual([0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f]);
  });
});
