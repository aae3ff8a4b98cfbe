/**
 * A 32-bit fingerprint of a whole token context [0..p], chained like real KV: the value at p
 * depends on every earlier token, so a block computed after a different prefix never matches.
 */
export function nextFingerprint(previous: number, tokenId: number, position: number): number {
  let h = Math.imul(previous ^ tokenId, 0x01000193) ^ position;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export const EMPTY_CONTEXT_FINGERPRINT = 0x811c9dc5;
