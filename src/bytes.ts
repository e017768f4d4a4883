/**
 * Copies of values. `Uint8Array#slice` copies, but a Buffer's `slice` is a
 * view — so a Buffer handed in by a caller must never be "copied" that way.
 */

/** A private copy to keep (memcache, buffered transaction writes): its own exact-size memory. */
export function keepCopy(v: Uint8Array): Uint8Array { return new Uint8Array(v); }

/** Values up to this size are handed out from a shared slab (Node's Buffer pool rule: half the slab). */
const SLAB_BYTES = 8192;
const SLAB_MAX_VALUE = SLAB_BYTES >>> 1;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/**
 * A copy to hand to a caller. A small value is copied into a shared 8 KiB
 * slab, as Buffer.from does into Node's pool, but without constructing a
 * Buffer: about twice as fast on the memcache-hit path. Like Node's pool,
 * a value kept by the caller pins its slab; never keep one inside the store.
 */
export function giveCopy(v: Uint8Array): Uint8Array {
  const n = v.length;
  if (n > SLAB_MAX_VALUE) return new Uint8Array(v);
  if (slabUsed + n > SLAB_BYTES) { slab = new ArrayBuffer(SLAB_BYTES); slabUsed = 0; }
  const out = new Uint8Array(slab, slabUsed, n);
  out.set(v);
  // 8-byte aligned, as Node's pool keeps its slices.
  slabUsed = (slabUsed + n + 7) & ~7;
  return out;
}
