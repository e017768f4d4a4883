/*
 * Ordered scans: the spec that travels to the engine, the order keys sort
 * in, and the page that comes back.
 *
 * Order is lexicographic by the keys' UTF-8 bytes, which is code-point
 * order (not JavaScript's UTF-16 `<`). A page is read from the read store
 * within one engine turn, so it is a consistent snapshot: no write lands in
 * the middle of it. Pages continue after the last key returned.
 */

export interface ScanSpec {
  prefix?: string;
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  limit: number;
  reverse: boolean;
}

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

/** A spec's bounds as UTF-8 bytes, to test keys where the index keeps them. */
export interface ByteRange { prefix?: Buffer; gt?: Buffer; gte?: Buffer; lt?: Buffer; lte?: Buffer }

export function byteRange(s: ScanSpec): ByteRange {
  const enc = (v: string | undefined): Buffer | undefined => (v === undefined ? undefined : Buffer.from(v, 'utf8'));
  return { prefix: enc(s.prefix), gt: enc(s.gt), gte: enc(s.gte), lt: enc(s.lt), lte: enc(s.lte) };
}

/** Where the index keeps keys as bytes: compared in place, no copy per key. */
export interface KeyBytes {
  compareKey(slot: number, b: Buffer): number;
  keyStartsWith(slot: number, p: Buffer): boolean;
}

/** Whether the key of `slot` lies in the range; byte order is code-point order. */
export function inByteRange(keys: KeyBytes, slot: number, r: ByteRange): boolean {
  if (r.prefix && !keys.keyStartsWith(slot, r.prefix)) return false;
  if (r.gt && keys.compareKey(slot, r.gt) <= 0) return false;
  if (r.gte && keys.compareKey(slot, r.gte) < 0) return false;
  if (r.lt && keys.compareKey(slot, r.lt) >= 0) return false;
  if (r.lte && keys.compareKey(slot, r.lte) > 0) return false;
  return true;
}

/** A page: count u32, then per entry keyLen u16, key, valLen u32, value. */
export function encodePage(entries: [string, Uint8Array][]): Buffer {
  let size = 4;
  const keys = entries.map(([k]) => Buffer.from(k, 'utf8'));
  entries.forEach(([, v], i) => { size += 2 + keys[i]!.length + 4 + v.length; });
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32LE(entries.length, 0);
  let at = 4;
  entries.forEach(([, v], i) => {
    const k = keys[i]!;
    b.writeUInt16LE(k.length, at); k.copy(b, at + 2); at += 2 + k.length;
    b.writeUInt32LE(v.length, at); b.set(v, at + 4); at += 4 + v.length;
  });
  return b;
}

export function decodePage(page: Uint8Array): { key: string; value: Uint8Array }[] {
  const b = Buffer.from(page.buffer, page.byteOffset, page.byteLength);
  const n = b.readUInt32LE(0);
  const out: { key: string; value: Uint8Array }[] = [];
  let at = 4;
  for (let i = 0; i < n; i++) {
    const kl = b.readUInt16LE(at);
    const key = b.toString('utf8', at + 2, at + 2 + kl);
    at += 2 + kl;
    const vl = b.readUInt32LE(at);
    out.push({ key, value: new Uint8Array(b.subarray(at + 4, at + 4 + vl)) });
    at += 4 + vl;
  }
  return out;
}
