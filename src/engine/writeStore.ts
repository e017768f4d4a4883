import { asStoreError, type TickstoreError } from '../errors.js';
import type { FileSystem } from './fs.js';
import { Keydir } from './keydir.js';
import { LogFile, type RecoveryReport } from './logFile.js';
import { EntryType, LogKind, entrySize, writeEntry } from './record.js';

export const WRITE_LOG = 'write.log';

/** An entry staged in the current group, before or after its commit. */
export interface StagedEntry {
  type: EntryType;
  key: string;
  keyLen: number;
  valLen: number;
  seq: number;
  /** Offset within the group's bytes. */
  at: number;
}

/** A group that is durable in the write log: its bytes and entries, in order. */
export interface CommittedGroup {
  bytes: Buffer;
  entries: StagedEntry[];
}

/**
 * The source of truth: an append-only, checksummed log. Writes are staged
 * into a group (one commit unit each, or several for an atomic batch), and
 * `commit()` appends the whole group with one write and makes it durable with
 * one fdatasync — group commit. Nothing is acknowledged before that returns.
 */
export class WriteStore {
  readonly keydir = new Keydir();
  lastSeq: number;
  fsyncs = 0;
  /** Set when a failed commit could not be rolled back: later writes are refused. */
  failure: TickstoreError | undefined;
  readonly recovery: RecoveryReport;

  private group = Buffer.allocUnsafe(256 * 1024);
  private groupLen = 0;
  private staged: StagedEntry[] = [];
  /** The last staged entry per key, so reads of the group see its own writes. */
  private stagedByKey = new Map<string, StagedEntry>();

  private constructor(readonly log: LogFile) {
    let maxSeq = log.baseSeq;
    this.recovery = log.recover((unit) => {
      for (const e of unit) {
        if (e.seq > maxSeq) maxSeq = e.seq;
        this.keydir.apply(e.type, e.key, { offset: e.offset, keyLen: e.keyLen, valLen: e.valLen, seq: e.seq });
      }
    }, true);
    this.lastSeq = maxSeq;
  }

  static open(fs: FileSystem, dir: string): WriteStore {
    return new WriteStore(LogFile.open(fs, dir, WRITE_LOG, LogKind.Write, true));
  }

  /** Whether `key` is live, counting writes staged in the current group. */
  has(key: string): boolean {
    const s = this.stagedByKey.get(key);
    return s ? s.type === EntryType.Put : this.keydir.has(key);
  }

  hasStaged(key: string): boolean { return this.stagedByKey.has(key); }
  get stagedCount(): number { return this.staged.length; }

  /** Stages one entry; `last` closes its commit unit. */
  stage(type: EntryType, key: string, keyBytes: Uint8Array, value: Uint8Array | undefined, last: boolean): void {
    const valLen = value ? value.length : 0;
    const need = this.groupLen + entrySize(keyBytes.length, valLen);
    if (need > this.group.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.group.length * 2));
      this.group.copy(bigger, 0, 0, this.groupLen);
      this.group = bigger;
    }
    const e: StagedEntry = { type, key, keyLen: keyBytes.length, valLen, seq: ++this.lastSeq, at: this.groupLen };
    this.groupLen = writeEntry(this.group, this.groupLen, type, last, e.seq, keyBytes, value);
    this.staged.push(e);
    this.stagedByKey.set(key, e);
  }

  /**
   * Appends and fdatasyncs the staged group, then indexes it. On failure the
   * log is cut back to its last durable size (and synced) so the failed
   * group can never resurface; if even that fails the store refuses writes
   * until reopened. Either way the caller reports the error for every op in
   * the group: none of them was acknowledged.
   */
  commit(): CommittedGroup | undefined {
    if (this.staged.length === 0) return undefined;
    const entries = this.staged;
    const len = this.groupLen;
    this.staged = [];
    this.stagedByKey.clear();
    this.groupLen = 0;
    if (this.failure) throw this.failure;
    const base = this.log.end;
    try {
      this.log.append(this.group, len);
      this.fsyncs++;
      this.log.datasync();
      // A compaction's rename must be durable before anything written after it is acknowledged.
      this.log.syncDirIfOwed();
    } catch (err) {
      this.rollback(base);
      throw asStoreError(err, `write to ${this.log.path} failed`);
    }
    for (const e of entries) this.keydir.apply(e.type, e.key, { offset: base + e.at, keyLen: e.keyLen, valLen: e.valLen, seq: e.seq });
    return { bytes: this.group.subarray(0, len), entries };
  }

  private rollback(durableEnd: number): void {
    try {
      this.log.truncate(durableEnd);
      this.fsyncs++;
      this.log.datasync();
    } catch (err) {
      this.failure = asStoreError(err, `${this.log.path} could not be rolled back after a failed write; reopen the store`);
    }
  }

  close(): void { this.log.close(); }
}
