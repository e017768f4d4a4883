import { asStoreError, type TickstoreError } from '../../../errors.js';
import { describeError, engineLog, msSince } from '../../../log.js';
import type { FileSystem } from './fs.js';
import type { Keydir } from './keydir.js';
import { LogFile, type RecoveryReport } from './logFile.js';
import { ENTRY_HEADER_BYTES, EntryType, FLAG_LAST, FLAG_SYNCED, LogKind, entrySize, setFlag, writeEntry } from './record.js';

export const WRITE_LOG = 'write.log';

/** An entry staged in the current group, before or after its commit. */
export interface StagedEntry {
  type: EntryType;
  key: string;
  keyLen: number;
  valLen: number;
  seq: number;
  deadline: number | undefined;
  /** Offset within the group's bytes. */
  at: number;
}

/** A group that is in the write log: its bytes and entries, in order. */
export interface CommittedGroup {
  bytes: Buffer;
  entries: StagedEntry[];
}

/**
 * The source of truth: an append-only, checksummed log. Writes are staged
 * into a group (one commit unit each, or several for an atomic batch), and
 * `commit()` appends the whole group with one write.
 *
 * A durable commit (the `immediate` policy, or a group holding a
 * `writeDurable`) also fdatasyncs before anything is acknowledged — group
 * commit. Under the `grouped` policy a commit is acknowledged once appended;
 * its bytes are kept here until a `sync()` makes them durable, because an
 * fsync that failed may have dropped them from the page cache: a later fsync
 * that "succeeds" proves nothing, so `heal()` rewrites them instead.
 *
 * The first entry written after a successful sync carries the SYNCED flag:
 * recovery uses it to tell a torn tail from corruption (docs/format.md).
 */
export class WriteStore {
  lastSeq: number;
  fsyncs = 0;
  /**
   * Set when the log's unsynced part is in doubt (an fsync or a rollback
   * failed): writes are refused until `heal()` has rewritten it.
   */
  flushError: TickstoreError | undefined;
  readonly recovery: RecoveryReport;

  private group = Buffer.allocUnsafe(256 * 1024);
  private groupLen = 0;
  private staged: StagedEntry[] = [];
  /** The last staged entry per key, so reads of the group see its own writes. */
  private stagedByKey = new Map<string, StagedEntry>();
  /** Everything before this offset is durable. */
  private durableEnd: number;
  /** Copies of the groups appended after `durableEnd`, in order (grouped policy). */
  private unsynced: Buffer[] = [];
  /** For the log lines: when `flushError` was set, and the failures since. */
  private failedSince = 0;
  private failures = 0;

  private constructor(readonly log: LogFile, readonly keydir: Keydir, hintSeq: number | undefined) {
    if (hintSeq !== undefined) {
      // A clean close wrote the index (hint.ts) for exactly this file: trimmed, synced, nothing to recover.
      this.lastSeq = Math.max(hintSeq, log.baseSeq);
      this.recovery = { truncatedBytes: 0, unsyncedFrom: log.end };
      this.durableEnd = log.end;
      return;
    }
    let maxSeq = log.baseSeq;
    this.recovery = log.recover((unit, kb) => {
      for (const e of unit) {
        if (e.seq > maxSeq) maxSeq = e.seq;
        this.keydir.applyBytes(e.type, kb, e.keyAt, e.keyLen, e.offset, e.valLen, e.seq, e.deadline);
      }
    }, true);
    this.lastSeq = maxSeq;
    // What a killed process left in the page cache may not be on disk yet —
    // even marked clean, if its fsync failed: write it again and sync, before
    // the next entry claims (SYNCED) that it is durable.
    log.rewriteFrom(this.recovery.unsyncedFrom);
    this.fsyncs++;
    log.datasync();
    this.durableEnd = log.end;
  }

  /** Never hand out a sequence number some copy of the data (the replica) may already carry. */
  raiseSeq(seq: number): void {
    if (seq > this.lastSeq) this.lastSeq = seq;
  }

  /**
   * Opens the write log into `keydir`: recovers it by a scan, or — with
   * `hintSeq`, when the hint file already filled `keydir` — takes it as is.
   */
  static open(fs: FileSystem, dir: string, keydir: Keydir, hintSeq?: number): WriteStore {
    return new WriteStore(LogFile.open(fs, dir, WRITE_LOG, LogKind.Write, true), keydir, hintSeq);
  }

  /** The staged entry for `key` in the current group, if any (reads of the group see its own writes). */
  stagedOf(key: string): StagedEntry | undefined { return this.stagedByKey.get(key); }
  get stagedCount(): number { return this.staged.length; }

  /** Acknowledged bytes not yet known durable (grouped policy). */
  get unsyncedBytes(): number { return this.log.end - this.durableEnd; }

  /** Stages one entry; `last` closes its commit unit. */
  stage(type: EntryType, key: string, keyBytes: Uint8Array, value: Uint8Array | undefined, last: boolean, deadline?: number): void {
    const valLen = (value ? value.length : 0) + (deadline === undefined ? 0 : 8);
    const need = this.groupLen + entrySize(keyBytes.length, valLen);
    if (need > this.group.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.group.length * 2));
      this.group.copy(bigger, 0, 0, this.groupLen);
      this.group = bigger;
    }
    const e: StagedEntry = { type, key, keyLen: keyBytes.length, valLen, seq: ++this.lastSeq, deadline, at: this.groupLen };
    this.groupLen = writeEntry(this.group, this.groupLen, type, last ? FLAG_LAST : 0, e.seq, keyBytes, value, deadline);
    this.staged.push(e);
    this.stagedByKey.set(key, e);
  }

  /**
   * Appends the staged group — and with `durable`, fdatasyncs it (with every
   * unsynced group before it) — then indexes it. On failure the group is cut
   * off again and the caller fails every op in it: none was acknowledged.
   * Throws `flushError` while it is set.
   */
  commit(durable: boolean): CommittedGroup | undefined {
    if (this.staged.length === 0) return undefined;
    const entries = this.staged;
    const len = this.groupLen;
    this.staged = [];
    this.stagedByKey.clear();
    this.groupLen = 0;
    if (this.flushError) throw this.flushError;
    const first = entries[0]!;
    setFlag(this.group, 0, entrySize(first.keyLen, first.valLen), FLAG_SYNCED, this.unsynced.length === 0 && this.durableEnd === this.log.end);
    const base = this.log.end;
    try {
      this.log.append(this.group, len);
      if (durable) this.syncLog();
    } catch (err) {
      engineLog('commit of a %d-byte group to %s failed (append or fdatasync; its ops fail, the log is cut back to %d): %s', len, this.log.path, base, describeError(err));
      this.rollback(base, err);
      throw asStoreError(err, `write to ${this.log.path} failed`);
    }
    if (!durable) this.unsynced.push(Buffer.from(this.group.subarray(0, len)));
    const bytes = this.group.subarray(0, len);
    indexGroup(this.keydir, base, bytes, entries);
    return { bytes, entries };
  }

  /** Makes every acknowledged group durable. Throws (and sets `flushError`) if it cannot. */
  sync(): void {
    if (this.flushError) { this.heal(); return; }
    if (this.log.end === this.durableEnd && !this.log.dirSyncOwed) return;
    try {
      this.syncLog();
    } catch (err) {
      throw this.fail(err, 'fsync failed; the unsynced writes will be rewritten');
    }
  }

  /**
   * After a failed fsync or rollback: writes the acknowledged unsynced groups
   * again at their offsets, cuts off whatever a failed group left after them,
   * and fdatasyncs. Clears `flushError` only once that has all succeeded; a
   * heal that fails part-way has destroyed nothing.
   */
  heal(): void {
    if (!this.flushError) return;
    const from = this.durableEnd;
    let at = from;
    try {
      // Same bytes at the same offsets; only then cut what a failed group left past them.
      for (const g of this.unsynced) { this.log.writeAt(g, g.length, at); at += g.length; }
      this.log.truncate(at);
      this.syncLog();
    } catch (err) {
      throw this.fail(err, 'rewriting the unsynced writes failed');
    }
    this.flushError = undefined;
    engineLog('flush error on %s healed: %d unsynced bytes rewritten and fsync\'d, after %d failures in %d ms',
      this.log.path, at - from, this.failures, msSince(this.failedSince));
  }

  /** Compaction rewrote (and fsync'd) the whole log: nothing is unsynced any more. */
  adopted(): void {
    this.unsynced = [];
    this.durableEnd = this.log.end;
  }

  private syncLog(): void {
    this.fsyncs++;
    this.log.datasync();
    // A compaction's rename must be durable before anything written after it is acknowledged.
    this.log.syncDirIfOwed();
    this.unsynced = [];
    this.durableEnd = this.log.end;
  }

  private fail(err: unknown, what: string): TickstoreError {
    if (!this.flushError) { this.failedSince = performance.now(); this.failures = 0; }
    this.failures++;
    this.flushError = asStoreError(err, `${this.log.path}: ${what}`);
    engineLog('flush failed on %s (failure %d; writes refused until healed): %s; unsyncedBytes=%d',
      this.log.path, this.failures, describeError(this.flushError), this.unsyncedBytes);
    return this.flushError;
  }

  /**
   * Cuts a failed group off. Without unsynced groups before it, a successful
   * truncate + fdatasync is a clean state; otherwise (or if that fails) the
   * unsynced part is in doubt and must be healed before the next write. The
   * refusal carries the failed write's own cause (ENOSPC stays ENOSPC).
   */
  private rollback(base: number, cause: unknown): void {
    let why = 'unsynced writes came before it';
    try {
      this.log.truncate(base);
      if (this.unsynced.length === 0) {
        this.fsyncs++;
        this.log.datasync();
        this.durableEnd = base;
        return;
      }
    } catch (err) { why = `the rollback failed too (${describeError(err)})`; }
    this.fail(cause, `a failed write could not be rolled back (${why}); it will be rewritten before the next write`);
  }

  /** Syncs what is unsynced (healing first if need be), then closes; the log is closed even if that fails. */
  close(): void {
    try {
      this.sync();
    } finally {
      this.log.close();
    }
  }
}

/** Points `keydir` at a group's entries, appended to its log at `base`. */
export function indexGroup(keydir: Keydir, base: number, bytes: Buffer, entries: readonly StagedEntry[]): void {
  for (const e of entries) {
    keydir.applyBytes(e.type, bytes, e.at + ENTRY_HEADER_BYTES, e.keyLen, base + e.at, e.valLen, e.seq, e.deadline);
  }
}
