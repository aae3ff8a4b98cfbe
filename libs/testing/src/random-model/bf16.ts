/**
 * bfloat16 is the top 16 bits of an IEEE f32. Converting down rounds to nearest, ties to even
 * (what torch's `.to(torch.bfloat16)` does), so a tensor written here holds the same bits a
 * PyTorch checkpoint of the same f32 values would.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bf16 bit pattern nearest to `value` (ties to even); NaN stays a quiet NaN of the same sign. */
export function f32ToBf16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  // A NaN whose payload lives only in the low 16 bits would round to ±infinity: keep it a NaN.
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff;
  // Adding 0x7fff plus the lowest kept bit rounds half-way cases to the even neighbour; a carry
  // into the exponent is the correct rounding up (to the next binade, or to infinity).
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The f32 value of a bf16 bit pattern (exact: every bf16 is an f32). */
export function bf16BitsToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/** Little-endian bf16 bytes of `values` (2 bytes per value), as safetensors stores them. */
export function encodeBf16(values: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(values.length * 2);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, f32ToBf16Bits(values[i]!), true);
  return out;
}
