/**
 * Copies of values. `Uint8Array#slice` copies, but a Buffer's `slice` is a
 * view — so a Buffer handed in by a caller must never be "copied" that way.
 */

/** A private copy to keep (memcache, buffered transaction writes): its own exact-size memory. */
export function keepCopy(v: Uint8Array): Uint8Array { return new Uint8Array(v); }

/**
 * A copy to hand to a caller. Buffer.from copies small values into Node's
 * shared pool, about 3x faster than an exact allocation; never keep one
 * (it pins its 8 KiB pool slab).
 */
export function giveCopy(v: Uint8Array): Uint8Array { return Buffer.from(v); }
