import type { ScanSpec } from '../../../backend.js';
import { compareKeys } from '../../../keys.js';

/*
 * Ordered scans in the disk engine: a spec's bounds as bytes, and the page
 * that comes back (keys sort in UTF-8 byte order, see keys.ts). A page is read from the read store
 * within one engine turn, so it is a consistent snapshot: no write lands in
 * the middle of it. Pages continue after the last key returned.
 */

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

