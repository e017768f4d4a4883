import { endianness } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { FileSystem } from './fs.js';
import type { KeyTable, Keydir, KeydirState } from './keydir.js';

/*
 * The hint file: both logs' indexes, written at a clean close and read at
 * the next open instead of scanning both logs (Bitcask's hint files, for the
 * whole index at once). Byte layout in docs/format.md ("The hint file").
 *
 * A hint is only ever an accelerator. It is used when its checksum holds and
 * both logs are exactly as it describes them (size, header, last bytes), and
 * it is deleted at open before anything is written — that deletion is made
 * durable with the directory fsync open does anyway — so it can never
 * describe logs that changed after it. Anything else, and open scans the
 * logs as it always did.
 */

export const HINT_FILE = 'index.hint';
const MAGIC = Buffer.from('TICKHINT', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 80;
/** Bytes at the end of a log its fingerprint covers. */
const TAIL_BYTES = 4096;

/** Identifies a log's exact contents cheaply: size, its header's CRC, its last bytes' CRC. */
interface Fingerprint { size: number; head: number; tail: number }

function fingerprint(fs: FileSystem, path: string): Fingerprint | undefined {
  if (!fs.exists(path)) return undefined;
  const fd = fs.open(path, 'r');
  try {
    const size = fs.size(fd);
    const head = Buffer.alloc(32);
    fs.read(fd, head, 0, 32, 0);
    const n = Math.min(TAIL_BYTES, size);
    const tail = Buffer.alloc(n);
    fs.read(fd, tail, 0, n, size - n);
    return { size, head: crc32(head), tail: crc32(tail) };
  } finally { fs.close(fd); }
}

function sameFingerprint(a: Fingerprint | undefined, b: Fingerprint | undefined): boolean {
  return !!a && !!b && a.size === b.size && a.head === b.head && a.tail === b.tail;
}

/** Typed arrays are host-endian; the file is little-endian: other hosts neither write nor read hints. */
const usable = endianness() === 'LE';

/**
 * Writes the hint for the logs `writeLog` and `readLog` (closed, so their
 * bytes are final), through a temporary file and a rename. Not fsync'd: a
 * hint lost or torn by a power cut fails its checksum and is ignored.
 */
export function writeHint(
  fs: FileSystem, dir: string, writeLog: string, readLog: string,
  table: KeyTable, ws: Keydir, rs: Keydir, lastSeq: number,
): void {
  if (!usable) return;
  const fw = fingerprint(fs, join(dir, writeLog));
  const fr = fingerprint(fs, join(dir, readLog));
  if (!fw || !fr) return;
  const t = table.exportState();
  const logs = [ws.exportState(), rs.exportState()];
  const n = t.top;
  const size = HEADER_BYTES + n * 11 + logs.reduce((sum, l) => sum + n * 20 + l.deadlines.size * 12, 0) + t.arena.length + 4;
  const b = Buffer.alloc(size);
  MAGIC.copy(b, 0);
  b.writeUInt16LE(VERSION, 8);
  b.writeUInt32LE(n, 12);
  b.writeUInt32LE(t.arena.length, 16);
  b.writeUInt32LE(logs[0]!.deadlines.size, 20);
  b.writeUInt32LE(logs[1]!.deadlines.size, 24);
  b.writeDoubleLE(lastSeq, 32);
  [fw, fr].forEach((f, i) => {
    b.writeDoubleLE(f.size, 40 + i * 16);
    b.writeUInt32LE(f.head, 48 + i * 16);
    b.writeUInt32LE(f.tail, 52 + i * 16);
  });
  let at = HEADER_BYTES;
  const put = (a: ArrayBufferView): void => { b.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at); at += a.byteLength; };
  put(t.hashes); put(t.keyAt); put(t.keyLens); put(t.refs);
  for (const l of logs) {
    put(l.offsets); put(l.seqs); put(l.valLens);
    for (const [slot, d] of l.deadlines) { b.writeUInt32LE(slot, at); b.writeDoubleLE(d, at + 4); at += 12; }
  }
  put(t.arena);
  b.writeUInt32LE(crc32(b.subarray(0, at)), at);
  const tmp = join(dir, HINT_FILE + '.tmp');
  const fd = fs.open(tmp, 'w');
  try { fs.write(fd, b, 0, b.length, 0); } finally { fs.close(fd); }
  fs.rename(tmp, join(dir, HINT_FILE));
}

/**
 * Takes the hint: deletes the file (the caller fsyncs the directory before
 * writing anything) and, when it is whole and describes `writeLog` and
 * `readLog` exactly, loads it into `table`, `ws` and `rs` (which must be
 * empty) and returns the last sequence number it recorded. Otherwise
 * returns undefined and leaves them empty.
 */
export function takeHint(
  fs: FileSystem, dir: string, writeLog: string, readLog: string,
  table: KeyTable, ws: Keydir, rs: Keydir,
): number | undefined {
  const path = join(dir, HINT_FILE);
  if (!fs.exists(path)) return undefined;
  let b: Buffer;
  const fd = fs.open(path, 'r');
  try {
    b = Buffer.allocUnsafe(fs.size(fd));
    if (fs.read(fd, b, 0, b.length, 0) !== b.length) return undefined;
  } finally {
    fs.close(fd);
    fs.unlink(path);
  }
  if (!usable || b.length < HEADER_BYTES + 4 || !b.subarray(0, 8).equals(MAGIC) || b.readUInt16LE(8) !== VERSION) return undefined;
  if (b.readUInt32LE(b.length - 4) !== crc32(b.subarray(0, b.length - 4))) return undefined;
  const n = b.readUInt32LE(12);
  const arenaLen = b.readUInt32LE(16);
  const dl = [b.readUInt32LE(20), b.readUInt32LE(24)];
  if (b.length !== HEADER_BYTES + n * 51 + (dl[0]! + dl[1]!) * 12 + arenaLen + 4) return undefined;
  const recorded = [0, 1].map((i) => ({ size: b.readDoubleLE(40 + i * 16), head: b.readUInt32LE(48 + i * 16), tail: b.readUInt32LE(52 + i * 16) }));
  if (!sameFingerprint(recorded[0], fingerprint(fs, join(dir, writeLog))) ||
      !sameFingerprint(recorded[1], fingerprint(fs, join(dir, readLog)))) return undefined;

  let at = HEADER_BYTES;
  // Copies, not views: the file's buffer is not aligned for wider elements, and the columns outlive it.
  const take = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(make: (len: number) => T): T => {
    const out = make(n);
    new Uint8Array(out.buffer).set(b.subarray(at, at + out.byteLength));
    at += out.byteLength;
    return out;
  };
  const hashes = take((len) => new Uint32Array(len));
  const keyAt = take((len) => new Uint32Array(len));
  const keyLens = take((len) => new Uint16Array(len));
  const refs = take((len) => new Uint8Array(len));
  const logs: KeydirState[] = dl.map((count) => {
    const offsets = take((len) => new Float64Array(len));
    const seqs = take((len) => new Float64Array(len));
    const valLens = take((len) => new Uint32Array(len));
    const deadlines = new Map<number, number>();
    for (let i = 0; i < count; i++, at += 12) deadlines.set(b.readUInt32LE(at), b.readDoubleLE(at + 4));
    return { offsets, seqs, valLens, deadlines };
  });
  try {
    table.importState({ top: n, hashes, keyAt, keyLens, refs, arena: b.subarray(at, at + arenaLen) });
  } catch {
    return undefined; // inconsistent despite its checksum: scan instead (the table is still empty)
  }
  ws.importState(logs[0]!);
  rs.importState(logs[1]!);
  return b.readDoubleLE(32);
}
