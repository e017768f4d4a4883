import { crc32 } from 'node:zlib';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../../../keys.js';

/*
 * The byte layout of a log (see docs/format.md, which must match this file).
 *
 * File header, 32 bytes:
 *   0  8  magic "TICKSTOR"
 *   8  2  format version (u16 LE) = 2
 *  10  1  kind: 1 = write log, 2 = read log (replica)
 *  11  1  reserved, 0
 *  12  8  base sequence (u64 LE): every sequence number ever acknowledged
 *         in this store is <= max(base, the largest in the file's entries),
 *         so compaction can drop entries without numbers being reused
 *  20  8  sealed end (u64 LE): every byte before this offset was durable
 *         before the file became the log (a compaction's output); damage
 *         there is always corruption, never a torn tail
 *  28  4  CRC-32 of bytes 0..27 (u32 LE)
 *
 * Entry, 20-byte header then key then value:
 *   0  4  CRC-32 of bytes 4..end of entry (u32 LE)
 *   4  1  type: 1 = PUT, 2 = DELETE (tombstone)
 *   5  1  flags: bit 0 = LAST, the entry closes a commit unit;
 *               bit 1 = SYNCED, every byte before this entry was durable
 *               (fdatasync'd) before it was written, so damage before it
 *               is corruption, not a torn tail;
 *               bit 2 = EXPIRES, the value starts with an 8-byte deadline
 *               (u64 LE, ms since the Unix epoch) counted in its length
 *   6  2  key length in bytes (u16 LE)
 *   8  4  value length in bytes (u32 LE; 0 for DELETE)
 *  12  8  sequence number (u64 LE)
 *  20  …  key (UTF-8), then value
 */

export const MAGIC = Buffer.from('TICKSTOR', 'latin1');
export const FORMAT_VERSION = 2;
export const FILE_HEADER_BYTES = 32;
export const ENTRY_HEADER_BYTES = 20;

export const LogKind = { Write: 1, Read: 2 } as const;
export type LogKind = (typeof LogKind)[keyof typeof LogKind];

export const EntryType = { Put: 1, Delete: 2 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export const FLAG_LAST = 1;
export const FLAG_SYNCED = 2;
export const FLAG_EXPIRES = 4;
const KNOWN_FLAGS = FLAG_LAST | FLAG_SYNCED | FLAG_EXPIRES;
/** Bytes of the deadline an EXPIRES entry carries before its value. */
export const DEADLINE_BYTES = 8;


export function entrySize(keyLen: number, valLen: number): number {
  return ENTRY_HEADER_BYTES + keyLen + valLen;
}

export function encodeFileHeader(kind: LogKind, baseSeq: number, sealedEnd: number): Buffer {
  const b = Buffer.alloc(FILE_HEADER_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt16LE(FORMAT_VERSION, 8);
  b[10] = kind;
  writeU64(b, 12, baseSeq);
  writeU64(b, 20, sealedEnd);
  b.writeUInt32LE(crc32(b.subarray(0, 28)), 28);
  return b;
}

export interface FileHeader { baseSeq: number; sealedEnd: number }

/** Parses a file header, or says why it is invalid. */
export function parseFileHeader(b: Buffer, kind: LogKind): FileHeader | { error: string } {
  if (b.length >= 10 && b.subarray(0, 8).equals(MAGIC) && b.readUInt16LE(8) !== FORMAT_VERSION) {
    return { error: `unsupported format version ${b.readUInt16LE(8)} (this build reads ${FORMAT_VERSION})` };
  }
  if (b.length < FILE_HEADER_BYTES) return { error: `file shorter than its ${FILE_HEADER_BYTES}-byte header` };
  if (!b.subarray(0, 8).equals(MAGIC)) return { error: 'bad magic (not a tickstore log)' };
  if (b.readUInt32LE(28) !== crc32(b.subarray(0, 28))) return { error: 'header checksum mismatch' };
  if (b[10] !== kind) return { error: `log kind ${b[10]} where ${kind} was expected` };
  return { baseSeq: readU64(b, 12), sealedEnd: readU64(b, 20) };
}

function writeU64(b: Buffer, off: number, v: number): void {
  b.writeUInt32LE(v >>> 0, off);
  b.writeUInt32LE(Math.floor(v / 0x1_0000_0000), off + 4);
}

function readU64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 0x1_0000_0000;
}

/**
 * Writes one entry at `off` in `buf` (which must have room) and returns the
 * offset just past it. `key` is UTF-8 bytes; `value` is absent for DELETE.
 */
export function writeEntry(
  buf: Buffer, off: number, type: EntryType, flags: number, seq: number,
  key: Uint8Array, value: Uint8Array | undefined, deadline?: number,
): number {
  const extra = deadline === undefined ? 0 : DEADLINE_BYTES;
  const valLen = (value ? value.length : 0) + extra;
  buf[off + 4] = type;
  buf[off + 5] = flags | (extra ? FLAG_EXPIRES : 0);
  buf.writeUInt16LE(key.length, off + 6);
  buf.writeUInt32LE(valLen, off + 8);
  writeU64(buf, off + 12, seq);
  buf.set(key, off + ENTRY_HEADER_BYTES);
  if (deadline !== undefined) writeU64(buf, off + ENTRY_HEADER_BYTES + key.length, deadline);
  if (value) buf.set(value, off + ENTRY_HEADER_BYTES + key.length + extra);
  const end = off + ENTRY_HEADER_BYTES + key.length + valLen;
  buf.writeUInt32LE(crc32(buf.subarray(off + 4, end)), off);
  return end;
}

/** A decoded entry header; the key and value stay in the source buffer. */
export interface EntryHeader {
  type: EntryType;
  last: boolean;
  synced: boolean;
  keyLen: number;
  valLen: number;
  seq: number;
  size: number;
}

/**
 * Parses the entry header at `off`. Returns undefined when the header is not
 * plausible (bad type, flags or lengths): the caller treats that like a
 * checksum failure. Does not check the CRC (see `entryChecksumOk`).
 */
export function readEntryHeader(buf: Buffer, off: number): EntryHeader | undefined {
  const type = buf[off + 4];
  const flags = buf[off + 5]!;
  if ((type !== EntryType.Put && type !== EntryType.Delete) || (flags & ~KNOWN_FLAGS) !== 0) return undefined;
  const keyLen = buf.readUInt16LE(off + 6);
  const valLen = buf.readUInt32LE(off + 8);
  const expires = (flags & FLAG_EXPIRES) !== 0;
  if (keyLen === 0 || keyLen > MAX_KEY_BYTES || valLen > MAX_VALUE_BYTES + (expires ? DEADLINE_BYTES : 0)) return undefined;
  if (type === EntryType.Delete ? valLen !== 0 || expires : expires && valLen < DEADLINE_BYTES) return undefined;
  const seq = readU64(buf, off + 12);
  const size = ENTRY_HEADER_BYTES + keyLen + valLen;
  return { type, last: (flags & FLAG_LAST) !== 0, synced: (flags & FLAG_SYNCED) !== 0, keyLen, valLen, seq, size };
}

export function entryChecksumOk(buf: Buffer, off: number, size: number): boolean {
  return buf.readUInt32LE(off) === crc32(buf.subarray(off + 4, off + size));
}

/** Sets or clears `flag` on the entry at `off`, re-sealing its checksum if that changed it. */
export function setFlag(buf: Buffer, off: number, size: number, flag: number, on: boolean): void {
  const now = buf[off + 5]!;
  const next = on ? now | flag : now & ~flag;
  if (now === next) return;
  buf[off + 5] = next;
  buf.writeUInt32LE(crc32(buf.subarray(off + 4, off + size)), off);
}

/** Marks the entry at `off` as closing its commit unit. */
export function sealAsLast(buf: Buffer, off: number, size: number): void { setFlag(buf, off, size, FLAG_LAST, true); }

/** The deadline of the entry at `off`, if it has one. */
export function entryDeadline(buf: Buffer, off: number): number | undefined {
  if ((buf[off + 5]! & FLAG_EXPIRES) === 0) return undefined;
  return readU64(buf, off + ENTRY_HEADER_BYTES + buf.readUInt16LE(off + 6));
}
