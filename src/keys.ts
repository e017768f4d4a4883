/*
 * What every engine agrees on about keys and values: their limits and the
 * order keys sort in. Order is lexicographic by the keys' UTF-8 bytes, which
 * is code-point order (not JavaScript's UTF-16 `<`).
 */

/** Largest key accepted: 1024 UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** Largest value accepted: 16 MiB. An empty value is a value, not a delete. */
export const MAX_VALUE_BYTES = 16 * 1024 * 1024;

/** Compares by Unicode code point, i.e. by UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800–0xDFFF) encode code points above 0xFFFF: they sort after all other BMP units.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
