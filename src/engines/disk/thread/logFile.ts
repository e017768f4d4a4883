import { dirname, join } from 'node:path';
import { CorruptionError } from '../../../errors.js';
import type { FileSystem } from './fs.js';
import type { KeyLocation } from './keydir.js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../../../keys.js';
import {
  DEADLINE_BYTES, ENTRY_HEADER_BYTES, FILE_HEADER_BYTES, encodeFileHeader, parseFileHeader,
  entryChecksumOk, entryDeadline, entrySize, readEntryHeader, type EntryType, type LogKind,
} from './record.js';

/** One entry of a complete commit unit, as found by recovery. */
export interface ScannedEntry {
  type: EntryType;
  /** Where the key's bytes start in the unit's key buffer (see `recover`). */
  keyAt: number;
  keyLen: number;
  valLen: number;
  seq: number;
  offset: number;
  /** The entry's expiry deadline (ms since the epoch), if it has one. */
  deadline: number | undefined;
}

export interface RecoveryReport {
  /** Bytes cut off the end: a torn (partially written, never acknowledged) last commit. */
  truncatedBytes: number;
  /**
   * Where the bytes not known durable begin: the last SYNCED entry (or the
   * sealed end when there is none). What follows may sit in the page cache
   * only, even marked clean after a failed fsync of the previous process.
   */
  unsyncedFrom: number;
}

const SCAN_CHUNK = 4 * 1024 * 1024;
/** How much of a replaced file `retireStep` frees at a time. */
const RETIRE_SLICE_BYTES = 64 * 1024 * 1024;
/** Zeros written ahead of the write log's end (see `append`). */
const PREALLOC_BYTES = 1024 * 1024;
const ZEROS = Buffer.alloc(PREALLOC_BYTES);

/**
 * One append-only log file: its header, its end offset, and the scan that
 * recovers it. Knows nothing of keys' meaning; `writeStore`, `readStore` and
 * `compaction` give the entries meaning.
 */
export class LogFile {
  /** Offset one past the last byte written (the file's logical size). */
  end: number;
  /** The file's physical size: `end` plus zeros written ahead (see `append`). */
  private allocated: number;
  /** A rename made this file the log, and its directory has not been fsync'd since. */
  dirSyncOwed = false;

  private constructor(
    private readonly fs: FileSystem,
    readonly path: string,
    readonly name: string,
    readonly kind: LogKind,
    public fd: number,
    /** Sequence floor from the header (see docs/format.md). */
    public baseSeq: number,
    /** Bytes before this offset were durable before the file became the log (see docs/format.md). */
    private sealedEnd: number,
    /** Write zeros ahead of the end (durable logs only; see `append`). */
    private readonly preallocate: boolean,
  ) {
    this.end = fs.size(fd);
    this.allocated = this.end;
  }

  /**
   * Opens `dir/name`, creating it when absent. Creation writes the header to a
   * temporary file and renames it in, so a crash never leaves a headless log;
   * with `durable` the file and the directory are fsync'd.
   */
  static open(fs: FileSystem, dir: string, name: string, kind: LogKind, durable: boolean): LogFile {
    const path = join(dir, name);
    if (!fs.exists(path)) LogFile.createEmpty(fs, dir, name, kind, durable);
    const fd = fs.open(path, 'r+');
    const head = Buffer.alloc(FILE_HEADER_BYTES);
    const n = fs.read(fd, head, 0, FILE_HEADER_BYTES, 0);
    const parsed = parseFileHeader(head.subarray(0, n), kind);
    if ('error' in parsed) { fs.close(fd); throw new CorruptionError(path, 0, parsed.error); }
    return new LogFile(fs, path, name, kind, fd, parsed.baseSeq, parsed.sealedEnd, durable);
  }

  /** Replaces (or creates) `dir/name` with a header-only log, through a temporary file and a rename. */
  static createEmpty(fs: FileSystem, dir: string, name: string, kind: LogKind, durable: boolean): void {
    replaceFile(fs, dir, name, encodeFileHeader(kind, 0, FILE_HEADER_BYTES), durable);
  }

  /** Adopts a new file (a compaction's output, already renamed over this path). */
  adopt(fd: number, end: number, baseSeq: number): void {
    // The old file is already out of the namespace: `retireStep` frees it.
    this.retiring.push(this.fd);
    this.fd = fd;
    this.end = end;
    this.allocated = end;
    this.baseSeq = baseSeq;
    this.sealedEnd = end;
  }

  /** Replaced files still open, their space freed a slice at a time. */
  private retiring: number[] = [];

  get retiringFiles(): number { return this.retiring.length; }

  /**
   * Frees up to 64 MiB of a replaced file; returns whether any remains.
   * Closing a large unlinked file frees all its extents in that one call
   * (~170 ms per GiB on ext4, measured), holding every op waiting behind it;
   * shrinking it in slices between batches of ops does not. Failing loses
   * nothing: the file is out of the namespace, and a leaked descriptor is
   * the worst case.
   */
  retireStep(): boolean {
    const fd = this.retiring[0];
    if (fd === undefined) return false;
    try {
      const size = this.fs.size(fd);
      if (size > RETIRE_SLICE_BYTES) {
        this.fs.truncate(fd, size - RETIRE_SLICE_BYTES);
        return true;
      }
    } catch { /* cannot shrink it: close it whole */ }
    try { this.fs.close(fd); } catch { /* a leaked descriptor at worst */ }
    this.retiring.shift();
    return this.retiring.length > 0;
  }


  /**
   * Scans every entry, handing each complete commit unit to `onUnit` in file
   * order, with a buffer holding the unit's keys (valid during the call: no
   * string is made per entry, which is much of an open's cost). A bad entry is corruption (CorruptionError with the file and
   * offset) when it lies in the sealed part of the file or a valid SYNCED
   * entry follows it — either way those bytes were durable once. Otherwise it
   * lies in what was written after the last successful sync: a torn tail,
   * truncated (fsync'd when `durable`) from the start of its commit unit,
   * whatever valid but unsynced entries come after it.
   */
  recover(onUnit: (entries: ScannedEntry[], keys: Buffer) => void, durable: boolean): RecoveryReport {
    const size = this.end;
    if (size < this.sealedEnd) throw new CorruptionError(this.path, size, `file ends before its sealed end ${this.sealedEnd}`);
    let buf = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, Math.max(size, ENTRY_HEADER_BYTES)));
    let bufStart = 0;
    let bufLen = 0;
    // Makes [off, off + len) available in `buf`; false when the file ends first.
    const window = (off: number, len: number): boolean => {
      if (off + len > size) return false;
      if (off >= bufStart && off + len <= bufStart + bufLen) return true;
      if (len > buf.length) buf = Buffer.allocUnsafe(len);
      bufStart = off;
      bufLen = this.fs.read(this.fd, buf, 0, Math.min(buf.length, size - off), off);
      return off + len <= bufStart + bufLen;
    };

    let unit: ScannedEntry[] = [];
    let keys = Buffer.allocUnsafe(64 * 1024);
    let keysLen = 0;
    let unitStart = FILE_HEADER_BYTES;
    let off = FILE_HEADER_BYTES;
    let lastSynced = Math.max(this.sealedEnd, FILE_HEADER_BYTES);
    const report = (truncatedBytes: number): RecoveryReport => ({ truncatedBytes, unsyncedFrom: Math.min(lastSynced, this.end) });
    // Defined once, not per entry: this loop runs for every entry of the log at open.
    const bad = (): RecoveryReport => report(this.badAt(off, unitStart, durable));
    while (off < size) {
      if (!window(off, ENTRY_HEADER_BYTES)) return bad();
      const h = readEntryHeader(buf, off - bufStart);
      if (!h || !window(off, h.size)) return bad();
      const at = off - bufStart;
      if (!entryChecksumOk(buf, at, h.size)) return bad();
      if (h.synced && off > lastSynced) lastSynced = off;
      // The window moves on within a unit: keep the unit's keys aside.
      if (keysLen + h.keyLen > keys.length) keys = Buffer.concat([keys.subarray(0, keysLen)], keys.length * 2 + h.keyLen);
      buf.copy(keys, keysLen, at + ENTRY_HEADER_BYTES, at + ENTRY_HEADER_BYTES + h.keyLen);
      unit.push({ type: h.type, keyAt: keysLen, keyLen: h.keyLen, valLen: h.valLen, seq: h.seq, offset: off, deadline: entryDeadline(buf, at) });
      keysLen += h.keyLen;
      off += h.size;
      if (h.last) {
        onUnit(unit, keys);
        unit = [];
        keysLen = 0;
        unitStart = off;
      }
    }
    // A unit still open at end of file never committed.
    return report(unit.length > 0 ? this.cutTail(unitStart, durable) : 0);
  }

  /** A bad entry at `off`: throws CorruptionError, or cuts the torn tail and returns the bytes cut. */
  private badAt(off: number, unitStart: number, durable: boolean): number {
    if (off < this.sealedEnd) {
      throw new CorruptionError(this.path, off, `entry fails its checksum or bounds inside the sealed part (before offset ${this.sealedEnd})`);
    }
    const syncedAfter = this.findSyncedEntry(off + 1);
    if (syncedAfter >= 0) {
      throw new CorruptionError(this.path, off, `entry fails its checksum or bounds, yet an entry written after it was synced follows at offset ${syncedAfter}`);
    }
    return this.cutTail(unitStart, durable);
  }

  private cutTail(at: number, durable: boolean): number {
    const cut = this.end - at;
    this.fs.truncate(this.fd, at);
    if (durable) this.fs.datasync(this.fd);
    this.end = at;
    this.allocated = at;
    return cut;
  }

  /**
   * Writes the bytes from `from` to the end again, unchanged, so the next
   * fdatasync really persists them: a failed fsync may have left them clean
   * in the page cache but not on disk, and a retried fsync is never trusted.
   */
  rewriteFrom(from: number): void {
    const chunk = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, Math.max(0, this.end - from)));
    for (let at = from; at < this.end; at += chunk.length) {
      const n = this.fs.read(this.fd, chunk, 0, Math.min(chunk.length, this.end - at), at);
      this.fs.write(this.fd, chunk, 0, n, at);
    }
  }

  /** Writes `len` bytes of `buf` at `position`, inside what the log already holds (end unchanged). */
  writeAt(buf: Uint8Array, len: number, position: number): void {
    this.fs.write(this.fd, buf, 0, len, position);
  }

  /**
   * Offset of the first well-formed, checksum-valid SYNCED entry at or after
   * `from`, or -1. Scans in overlapping windows so any entry fits wholly in one.
   */
  private findSyncedEntry(from: number): number {
    const overlap = entrySize(MAX_KEY_BYTES, MAX_VALUE_BYTES + DEADLINE_BYTES);
    const win = Math.min(this.end - from, overlap * 4);
    if (win < ENTRY_HEADER_BYTES) return -1;
    const buf = Buffer.allocUnsafe(win);
    for (let start = from; start + ENTRY_HEADER_BYTES <= this.end; start += win - overlap) {
      const n = this.fs.read(this.fd, buf, 0, Math.min(win, this.end - start), start);
      for (let i = 0; i + ENTRY_HEADER_BYTES <= n; i++) {
        const h = readEntryHeader(buf, i);
        if (h?.synced && i + h.size <= n && entryChecksumOk(buf, i, h.size)) return start + i;
      }
      if (start + n >= this.end) break;
    }
    return -1;
  }

  /**
   * Appends `len` bytes of `buf` at the end; returns the offset they start at.
   * A durable log also keeps zeros written ahead of its end, 1 MiB at a time:
   * an fdatasync of bytes that land inside the file's existing size flushes
   * data only, not a size change through the journal — about 1.5x faster per
   * commit on ext4. The zeros read as a torn tail after a crash (truncated at
   * open) and are trimmed at close. The fill is only a speed-up: when it
   * cannot be written (a nearly full disk) the commit goes ahead without it,
   * and the fill is tried again once the log has grown past what it covered.
   */
  append(buf: Uint8Array, len: number): number {
    const at = this.end;
    this.fs.write(this.fd, buf, 0, len, at);
    this.end = at + len;
    if (this.preallocate && this.end > this.allocated) {
      // Counted as written either way: a failed fill may have extended the file part-way, and close() trims to `end`.
      this.allocated = this.end + PREALLOC_BYTES;
      try { this.fs.write(this.fd, ZEROS, 0, PREALLOC_BYTES, this.end); } catch { /* see above */ }
    }
    return at;
  }

  /** Cuts the file back to `len` bytes (undoing a failed append). */
  truncate(len: number): void {
    // Forget the cut bytes first: even if the truncate fails, nothing past `len`
    // is ever read, and close() trims the file back to `len`.
    this.allocated = Math.max(this.allocated, this.end);
    this.end = len;
    this.fs.truncate(this.fd, len);
    this.allocated = len;
  }

  datasync(): void { this.fs.datasync(this.fd); }

  /** Fsyncs the log's directory if a rename is not yet durable there. */
  syncDirIfOwed(): void {
    if (!this.dirSyncOwed) return;
    this.fs.syncDir(dirname(this.path));
    this.dirSyncOwed = false;
  }

  read(buf: Buffer, len: number, position: number): number {
    return this.fs.read(this.fd, buf, 0, len, position);
  }

  private scratch = Buffer.allocUnsafe(64 * 1024);

  /**
   * Reads the whole entry at `loc`, checks its checksum and that it holds
   * `key`, and returns it: a view into a scratch buffer, valid until the next
   * call. Bit rot after open surfaces here as a CorruptionError, never as
   * another key's bytes.
   */
  readEntry(loc: KeyLocation, key: string): Buffer {
    const size = entrySize(loc.keyLen, loc.valLen);
    if (this.scratch.length < size) this.scratch = Buffer.allocUnsafe(Math.max(size, this.scratch.length * 2));
    const buf = this.scratch;
    const n = this.fs.read(this.fd, buf, 0, size, loc.offset);
    const h = n === size ? readEntryHeader(buf, 0) : undefined;
    if (!h || h.size !== size || !entryChecksumOk(buf, 0, size) ||
        buf.toString('utf8', ENTRY_HEADER_BYTES, ENTRY_HEADER_BYTES + h.keyLen) !== key) {
      throw new CorruptionError(this.path, loc.offset, `entry for key ${JSON.stringify(key)} fails its checksum or does not hold that key`);
    }
    return buf.subarray(0, size);
  }

  /** Closes the file, first trimming (durably) any zeros written ahead of the end; and any replaced files. */
  close(): void {
    for (const fd of this.retiring.splice(0)) {
      try { this.fs.close(fd); } catch { /* out of the namespace already */ }
    }
    if (this.allocated > this.end) {
      this.fs.truncate(this.fd, this.end);
      this.fs.datasync(this.fd);
      this.allocated = this.end;
    }
    this.fs.close(this.fd);
  }
}

/**
 * Replaces (or creates) `dir/name` with `bytes` whole: written to
 * `name.tmp`, then renamed in; with `durable`, the file and the directory are
 * fsync'd. A failure before the rename (a full disk) closes and deletes the
 * temporary file, so it holds no space.
 */
export function replaceFile(fs: FileSystem, dir: string, name: string, bytes: Uint8Array, durable: boolean): void {
  const tmp = join(dir, name + '.tmp');
  const fd = fs.open(tmp, 'w');
  let closed = false;
  try {
    fs.write(fd, bytes, 0, bytes.length, 0);
    if (durable) fs.datasync(fd);
    closed = true; // even if close fails: never close a descriptor number twice
    fs.close(fd);
  } catch (err) {
    if (!closed) try { fs.close(fd); } catch { /* already failing */ }
    try { fs.unlink(tmp); } catch { /* deleted at the next open */ }
    throw err;
  }
  fs.rename(tmp, join(dir, name));
  if (durable) fs.syncDir(dir);
}
