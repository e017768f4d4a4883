import { endianness } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { CorruptionError, asStoreError } from '../../../errors.js';
import type { FileSystem } from './fs.js';
import type { KeyTable, Keydir, KeydirState } from './keydir.js';
import { replaceFile } from './logFile.js';

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
const VERSION = 2;
const HEADER_BYTES = 128;
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

/** Where each section starts: every section at a multiple of 8, so the read file's buffer serves as the typed arrays themselves. */
function layout(n: number, buckets: number, free: number, deadlines: readonly number[], arena: number) {
  let at = HEADER_BYTES;
  const next = (bytes: number): number => { const start = at; at += Math.ceil(bytes / 8) * 8; return start; };
  const logF64 = [0, 1].map(() => ({ offsets: next(8 * n), seqs: next(8 * n) }));
  const l = {
    logs: logF64.map((f) => ({ ...f, valLens: 0, deadlines: 0 })),
    buckets: next(4 * buckets), hashes: next(4 * n), keyAt: next(4 * n), keyLens: 0, refs: 0, free: 0, arena: 0, crc: 0,
  };
  for (const log of l.logs) log.valLens = next(4 * n);
  l.keyLens = next(2 * n);
  l.refs = next(n);
  l.free = next(4 * free);
  l.logs.forEach((log, i) => { log.deadlines = next(12 * deadlines[i]!); });
  l.arena = next(arena);
  l.crc = at;
  return l;
}

/**
 * Writes the hint for the logs `writeLog` and `readLog` (closed, so their
 * bytes are final), through a temporary file and a rename. Not fsync'd: a
 * hint lost or torn by a power cut fails its checksum and is ignored.
 */
export function writeHint(
  fs: FileSystem, dir: string, writeLog: string, readLog: string,
  table: KeyTable, ws: Keydir, rs: Keydir, lastSeq: number, logEnds: readonly [number, number],
): void {
  if (!usable) return;
  const fw = fingerprint(fs, join(dir, writeLog));
  const fr = fingerprint(fs, join(dir, readLog));
  // A file longer than its log (a replica append that failed part-way) holds bytes
  // a scan would cut as a torn tail; a hint would make the next open keep them.
  if (!fw || !fr || fw.size !== logEnds[0] || fr.size !== logEnds[1]) return;
  const t = table.exportState();
  const logs = [ws.exportState(), rs.exportState()];
  const n = t.top;
  const l = layout(n, t.buckets.length, t.free.length, logs.map((x) => x.deadlines.size), t.arena.length);
  const b = Buffer.alloc(l.crc + 4);
  MAGIC.copy(b, 0);
  b.writeUInt16LE(VERSION, 8);
  b.writeUInt32LE(n, 12);
  b.writeUInt32LE(t.arena.length, 16);
  b.writeUInt32LE(logs[0]!.deadlines.size, 20);
  b.writeUInt32LE(logs[1]!.deadlines.size, 24);
  b.writeUInt32LE(t.buckets.length, 28);
  b.writeDoubleLE(lastSeq, 32);
  [fw, fr].forEach((f, i) => {
    b.writeDoubleLE(f.size, 40 + i * 16);
    b.writeUInt32LE(f.head, 48 + i * 16);
    b.writeUInt32LE(f.tail, 52 + i * 16);
  });
  b.writeUInt32LE(t.free.length, 72);
  b.writeUInt32LE(t.live, 76);
  logs.forEach((log, i) => { b.writeDoubleLE(log.count, 80 + i * 16); b.writeDoubleLE(log.liveBytes, 88 + i * 16); });
  b.writeDoubleLE(t.garbage, 112);
  const put = (a: ArrayBufferView, at: number): void => { b.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at); };
  logs.forEach((log, i) => {
    const at = l.logs[i]!;
    put(log.offsets, at.offsets); put(log.seqs, at.seqs); put(log.valLens, at.valLens);
    let d = at.deadlines;
    for (const [slot, deadline] of log.deadlines) { b.writeUInt32LE(slot, d); b.writeDoubleLE(deadline, d + 4); d += 12; }
  });
  put(t.buckets, l.buckets); put(t.hashes, l.hashes); put(t.keyAt, l.keyAt); put(t.keyLens, l.keyLens); put(t.refs, l.refs);
  put(t.free, l.free);
  put(t.arena, l.arena);
  b.writeUInt32LE(crc32(b.subarray(0, l.crc)), l.crc);
  replaceFile(fs, dir, HINT_FILE, b, false);
}

/**
 * Takes the hint: deletes the file (the caller fsyncs the directory before
 * writing anything) and, when it is whole and describes `writeLog` and
 * `readLog` exactly, loads it into `table`, `ws` and `rs` (which must be
 * empty) and returns the last sequence number it recorded. Otherwise
 * returns undefined; they may then be partly filled, and must be dropped.
 */
export function takeHint(
  fs: FileSystem, dir: string, writeLog: string, readLog: string,
  table: KeyTable, ws: Keydir, rs: Keydir,
): number | undefined {
  const path = join(dir, HINT_FILE);
  let b: Buffer;
  try {
    if (!fs.exists(path)) return undefined;
    const fd = fs.open(path, 'r');
    try {
      // A buffer of its own (offset 0): the columns are views into it, aligned by the layout.
      b = Buffer.allocUnsafeSlow(fs.size(fd));
      if (fs.read(fd, b, 0, b.length, 0) !== b.length) b = Buffer.alloc(0);
    } finally {
      fs.close(fd);
    }
  } catch {
    b = Buffer.alloc(0);
  }
  const valid = usable && b.length >= HEADER_BYTES + 4 && b.subarray(0, 8).equals(MAGIC) && b.readUInt16LE(8) === VERSION;
  const u32 = (at: number): number => (valid ? b.readUInt32LE(at) : 0);
  const n = u32(12);
  const arenaLen = u32(16);
  const dl = [u32(20), u32(24)];
  const free = u32(72);
  const l = layout(n, u32(28), free, dl, arenaLen);
  const sound = valid && b.length === l.crc + 4 && b.readUInt32LE(l.crc) === crc32(b.subarray(0, l.crc));
  const recorded = [0, 1].map((i) => (sound ? { size: b.readDoubleLE(40 + i * 16), head: b.readUInt32LE(48 + i * 16), tail: b.readUInt32LE(52 + i * 16) } : undefined));
  // A sound hint is what the last clean close left, and nothing writes the write log after it: if that
  // log is not byte for byte (size, header, last 4 KiB) the one the hint describes — shorter, longer, an
  // older copy, a damaged tail — durable entries were lost or replaced, which no torn write explains.
  // Refused before the hint is deleted: nothing changes. (A replica that differs is only rebuilt.)
  const wl = join(dir, writeLog);
  const now = fingerprint(fs, wl);
  if (recorded[0] && now && !sameFingerprint(recorded[0], now)) {
    throw new CorruptionError(wl, Math.min(now.size, recorded[0].size),
      `the write log (${now.size} bytes) is not the one the last clean close left (${recorded[0].size} bytes, per ${HINT_FILE}): durable entries are missing or replaced; refusing to open (nothing was changed). Restore the write log, or delete ${HINT_FILE} to open it as it is`);
  }
  try {
    fs.unlink(path);
  } catch (err) {
    // A hint left behind would describe logs that are about to change: the open cannot go on.
    throw asStoreError(err, `${path} could not be deleted`);
  }
  if (!sound || !sameFingerprint(recorded[1]!, fingerprint(fs, join(dir, readLog)))) return undefined;

  const ab = b.buffer;
  const logs: KeydirState[] = l.logs.map((at, i) => {
    const deadlines = new Map<number, number>();
    for (let k = 0, d = at.deadlines; k < dl[i]!; k++, d += 12) deadlines.set(b.readUInt32LE(d), b.readDoubleLE(d + 4));
    return {
      count: b.readDoubleLE(80 + i * 16), liveBytes: b.readDoubleLE(88 + i * 16), deadlines,
      offsets: new Float64Array(ab, at.offsets, n), seqs: new Float64Array(ab, at.seqs, n), valLens: new Uint32Array(ab, at.valLens, n),
    };
  });
  try {
    table.importState({
      top: n, live: b.readUInt32LE(76), garbage: b.readDoubleLE(112), free: new Int32Array(ab, l.free, free), buckets: new Int32Array(ab, l.buckets, b.readUInt32LE(28)), hashes: new Uint32Array(ab, l.hashes, n),
      keyAt: new Uint32Array(ab, l.keyAt, n), keyLens: new Uint16Array(ab, l.keyLens, n), refs: new Uint8Array(ab, l.refs, n),
      arena: b.subarray(l.arena, l.arena + arenaLen),
    });
  } catch {
    return undefined; // inconsistent despite its checksum: scan instead (the table is still empty)
  }
  try {
    ws.importState(logs[0]!);
    rs.importState(logs[1]!);
  } catch {
    return undefined; // the caller drops them and scans
  }
  return b.readDoubleLE(32);
}
