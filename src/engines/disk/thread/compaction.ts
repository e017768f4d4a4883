import { join } from 'node:path';
import type { FileSystem } from './fs.js';
import type { Keydir } from './keydir.js';
import type { LogFile } from './logFile.js';
import { FILE_HEADER_BYTES, encodeFileHeader, sealAsLast } from './record.js';

/** A log with its index: what compaction rewrites. */
export interface IndexedLog {
  readonly log: LogFile;
  readonly keydir: Keydir;
}

/** Bytes of a log that hold no live entry: superseded values and tombstones. */
export function deadBytes(il: IndexedLog): number {
  return il.log.end - FILE_HEADER_BYTES - il.keydir.liveBytes;
}

export interface CompactionPolicy {
  compactRatio: number;
  compactMinBytes: number;
}

/** Whether a log has reached its compaction threshold (never a tiny log). */
export function shouldCompact(il: IndexedLog, p: CompactionPolicy): boolean {
  const size = il.log.end;
  return size >= p.compactMinBytes && size > FILE_HEADER_BYTES && deadBytes(il) / size >= p.compactRatio;
}

const OUT_CHUNK = 1024 * 1024;

/**
 * Rewrites one log with only its live entries, in steps, while the log keeps
 * taking appends:
 *   1. copy each key's current entry (verified, sealed as its own commit
 *      unit) into `<name>.compact`, dropping entries whose deadline has
 *      passed (the key reads as absent already);
 *   2. copy, raw, everything appended to the old log since step 1 began —
 *      later in the file, so it wins on replay (overwrites and tombstones);
 *   3. seal the header (sealed end = the file's size), fsync the new file,
 *      rename it over the old one, fsync the directory.
 * A crash at any point leaves either the old file or the complete new one as
 * the log; a leftover `.compact` is deleted at open. Tombstones are dropped
 * in step 1 (nothing older survives to need them) but kept in the step 2
 * tail, so no deleted key can come back.
 */
export class Compaction {
  private readonly tmpPath: string;
  private readonly fd: number;
  /** The log's keys when the compaction began (slots of the shared key table). */
  private readonly slots: Int32Array;
  private next = 0;
  /** Old-log offset from which appends are copied raw (step 2). */
  private readonly tailFrom: number;
  private tailCopied: number;
  private outEnd: number;
  private tailBase = -1;
  /** New offsets of the entries step 1 copied, by slot. */
  private readonly moved = new Map<number, number>();
  /** Slots whose entry had expired, with that entry's sequence number: dropped, unless rewritten meanwhile. */
  private readonly expired = new Map<number, number>();
  private out = Buffer.allocUnsafe(OUT_CHUNK);
  private outLen = 0;
  private readonly baseSeq: number;
  /** The new file has replaced the old one (even if what followed the rename failed). */
  renamed = false;
  /** Set by the engine: the compaction completed, or why it stopped. */
  finished = false;
  failure: unknown;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly il: IndexedLog,
    private readonly durable: boolean,
    baseSeq: number,
  ) {
    this.tmpPath = join(dir, il.log.name + '.compact');
    this.baseSeq = baseSeq;
    this.fd = fs.open(this.tmpPath, 'w+');
    const head = encodeFileHeader(il.log.kind, baseSeq, 0);
    // A start that fails (a full disk) must not keep a descriptor and a partial file holding space.
    try { fs.write(this.fd, head, 0, head.length, 0); } catch (err) { this.abort(); throw err; }
    this.outEnd = head.length;
    this.slots = il.keydir.slots();
    this.tailFrom = il.log.end;
    this.tailCopied = this.tailFrom;
  }

  /**
   * Does about `budget` bytes of copying. Returns true once the new file has
   * replaced the old one; the caller then counts the compaction done.
   */
  step(budget: number): boolean {
    let done = 0;
    const now = Date.now();
    const kd = this.il.keydir;
    while (this.next < this.slots.length && done < budget) {
      const slot = this.slots[this.next++]!;
      // Deleted since the snapshot, or rewritten into the tail (a slot freed and
      // reused by another key is there too): step 2 copies it.
      if (!kd.holds(slot) || kd.offsetAt(slot) >= this.tailFrom) continue;
      const loc = kd.at(slot);
      // Expired: nothing older than it is copied either, so it simply ends here.
      if (loc.deadline !== undefined && loc.deadline <= now) { this.expired.set(slot, loc.seq); continue; }
      const entry = this.il.log.readEntry(loc, kd.table.keyString(slot));
      sealAsLast(entry, 0, entry.length);
      this.moved.set(slot, this.emit(entry));
      done += entry.length;
    }
    if (this.next < this.slots.length) return this.paused();
    if (this.tailBase < 0) this.tailBase = this.outEnd + this.outLen;
    // Step 2: catch up with appends, a chunk at a time, until the rest is small.
    while (this.il.log.end - this.tailCopied > OUT_CHUNK && done < budget) done += this.copyTail(OUT_CHUNK);
    if (this.il.log.end - this.tailCopied > OUT_CHUNK) return this.paused();
    this.copyTail(this.il.log.end - this.tailCopied);
    this.finish();
    return true;
  }

  /**
   * Between steps the new file is fdatasync'd so far, so that no single call
   * at the end flushes all of it, holding the engine thread (and every op
   * behind it) for seconds: the durable log's sync before its rename, and —
   * for the replica, which is otherwise never synced — the rename itself,
   * which on ext4 (auto_da_alloc) flushes a file renamed over another
   * (132 ms for a 500 MiB replica, measured).
   */
  private paused(): false {
    this.flushOut();
    this.fs.datasync(this.fd);
    return false;
  }

  /** Runs the whole compaction now. */
  run(): void { while (!this.step(Number.POSITIVE_INFINITY)); }

  private copyTail(len: number): number {
    const buf = Buffer.allocUnsafe(len);
    const n = this.il.log.read(buf, len, this.tailCopied);
    this.emit(buf.subarray(0, n));
    this.tailCopied += n;
    return n;
  }

  /** Queues bytes for the new file; returns the offset they will have there. */
  private emit(bytes: Buffer): number {
    if (this.outLen + bytes.length > this.out.length) this.flushOut();
    const at = this.outEnd + this.outLen;
    if (bytes.length > this.out.length) {
      this.fs.write(this.fd, bytes, 0, bytes.length, this.outEnd);
      this.outEnd += bytes.length;
      return at;
    }
    bytes.copy(this.out, this.outLen);
    this.outLen += bytes.length;
    return at;
  }

  private flushOut(): void {
    if (this.outLen === 0) return;
    this.fs.write(this.fd, this.out, 0, this.outLen, this.outEnd);
    this.outEnd += this.outLen;
    this.outLen = 0;
  }

  private finish(): void {
    this.flushOut();
    const head = encodeFileHeader(this.il.log.kind, this.baseSeq, this.outEnd);
    this.fs.write(this.fd, head, 0, head.length, 0);
    if (this.durable) this.fs.datasync(this.fd);
    this.fs.rename(this.tmpPath, this.il.log.path);
    // From here the new file is the log: adopt it even if the directory sync
    // fails (the old inode is gone from the namespace; appending to it would
    // lose writes). The log then owes a directory sync, and no later write is
    // acknowledged until one succeeds (see WriteStore.commit).
    this.renamed = true;
    this.il.log.adopt(this.fd, this.outEnd, this.baseSeq);
    const kd = this.il.keydir;
    // Not rewritten meanwhile (same entry, so the same sequence number): gone with the old file.
    for (const [slot, seq] of this.expired) if (kd.holds(slot) && kd.seqAt(slot) === seq) kd.drop(slot);
    for (const slot of kd.slots()) this.relocate(slot);
    if (this.durable) {
      this.il.log.dirSyncOwed = true;
      this.il.log.syncDirIfOwed();
    }
  }

  private relocate(slot: number): void {
    const kd = this.il.keydir;
    const offset = kd.offsetAt(slot);
    if (offset >= this.tailFrom) { kd.move(slot, this.tailBase + (offset - this.tailFrom)); return; }
    const at = this.moved.get(slot);
    if (at === undefined) throw new Error(`compaction lost track of key ${JSON.stringify(kd.table.keyString(slot))}`);
    kd.move(slot, at);
  }

  /** Abandons the compaction: the old log stays, the temporary file goes. */
  abort(): void {
    if (this.renamed) return; // too late: the new file already is the log
    try { this.fs.close(this.fd); } catch { /* already failing; the unlink below matters more */ }
    try { this.fs.unlink(this.tmpPath); } catch { /* removed at next open */ }
  }
}
