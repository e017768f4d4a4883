import { join } from 'node:path';
import { CorruptionError } from '../../../errors.js';
import type { FileSystem } from './fs.js';
import { unexpired, type KeyLocation, type Keydir } from './keydir.js';
import { LogFile } from './logFile.js';
import { DEADLINE_BYTES, ENTRY_HEADER_BYTES, FILE_HEADER_BYTES, EntryType, FLAG_LAST, LogKind, entrySize, sealAsLast, writeEntry } from './record.js';
import { indexGroup, type CommittedGroup, type WriteStore } from './writeStore.js';

export const READ_LOG = 'read.log';

/**
 * The replica that serves GETs: a second log in the same format, fed from the
 * write store — the same bytes appended right after each commit (per-key
 * mode) or later in batches (async-batch). It is not synced for durability: `open`
 * reconciles it key by key against the write store, so whatever a crash left
 * in it (a stale tail, a torn entry, garbage) is repaired before it serves a
 * read. A replica that fails its checks is rebuilt from the source of truth.
 */
export class ReadStore {
  reads = 0;
  /** Entries rewritten by the last reconcile (0 when the replica was current). */
  repaired = 0;
  /** True when the replica file had to be discarded and rebuilt at open. */
  rebuilt = false;
  /** The highest sequence number in the replica as loaded (tombstones included). */
  private maxSeq = 0;

  private out = Buffer.allocUnsafe(64 * 1024);

  private constructor(readonly log: LogFile, readonly keydir: Keydir) {}

  /**
   * Opens the replica into `keydir` — by a scan, or as the hint file already
   * filled it (`fromHint`) — and reconciles it with `source`.
   */
  static open(fs: FileSystem, dir: string, source: WriteStore, keydir: Keydir, fromHint = false): ReadStore {
    let rs: ReadStore | undefined;
    // A replica lost beside a write log with data (its create is not dir-synced) is rebuilt like an unreadable one.
    let rebuilt = source.log.end > FILE_HEADER_BYTES && !fs.exists(join(dir, READ_LOG));
    try {
      rs = new ReadStore(LogFile.open(fs, dir, READ_LOG, LogKind.Read, false), keydir);
      if (!fromHint) rs.load();
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      rs?.log.close();
      keydir.clear();
      // Derived data: start it over from the source of truth.
      LogFile.createEmpty(fs, dir, READ_LOG, LogKind.Read, false);
      rs = new ReadStore(LogFile.open(fs, dir, READ_LOG, LogKind.Read, false), keydir);
      rebuilt = true;
    }
    rs.rebuilt = rebuilt;
    // Under the grouped policy the replica can hold writes the write log lost
    // in a power loss: their numbers must never be reused, or reconcile would
    // take the lost value for the current one.
    source.raiseSeq(rs.maxSeq);
    rs.repaired = rs.reconcile(source);
    return rs;
  }

  private load(): void {
    this.log.recover((unit, kb) => {
      for (const e of unit) {
        if (e.seq > this.maxSeq) this.maxSeq = e.seq;
        this.keydir.applyBytes(e.type, kb, e.keyAt, e.keyLen, e.offset, e.valLen, e.seq, e.deadline);
      }
    }, false);
  }

  /**
   * Makes every key's live state equal the write store's (same sequence
   * number, or absent); returns the entries rewritten. Run at open, and while
   * open after the engine dropped the groups it held for a failing replica: a
   * failure part-way loses nothing (the next call continues).
   */
  reconcile(source: WriteStore): number {
    let fixes = 0;
    const table = this.keydir.table;
    const src = source.keydir;
    // Both logs' keys share the table's slots: one pass compares them column to column.
    for (let slot = 0, top = table.top; slot < top; slot++) {
      const inSource = src.holds(slot);
      const here = this.keydir.holds(slot);
      if (inSource) {
        const seq = src.seqAt(slot);
        if (here && this.keydir.seqAt(slot) === seq) continue;
        const loc = src.at(slot);
        const entry = source.log.readEntry(loc, table.keyString(slot));
        // It may sit inside a multi-entry unit of the write log; alone here, it closes its own.
        sealAsLast(entry, 0, entry.length);
        const offset = this.log.append(entry, entry.length);
        this.keydir.setAt(slot, offset, loc.valLen, seq, loc.deadline);
        fixes++;
      } else if (here) {
        const kb = table.keyBytes(slot);
        const buf = this.room(entrySize(kb.length, 0));
        const end = writeEntry(buf, 0, EntryType.Delete, FLAG_LAST, source.lastSeq, kb, undefined);
        this.log.append(buf, end);
        this.keydir.drop(slot);
        fixes++;
      }
    }
    return fixes;
  }

  private room(size: number): Buffer {
    if (this.out.length < size) this.out = Buffer.allocUnsafe(size);
    return this.out;
  }

  /** Mirrors a committed write group: the same bytes, appended verbatim. */
  apply(group: CommittedGroup): void {
    const base = this.log.append(group.bytes, group.bytes.length);
    indexGroup(this.keydir, base, group.bytes, group.entries);
  }

  /** The value of `key` as the replica has it (expired: undefined): a view valid until the next read. */
  get(key: string, now: number): Buffer | undefined {
    const slot = this.keydir.slotOf(key);
    return slot < 0 ? undefined : this.valueAt(slot, key, now);
  }

  /** `get` for a key whose slot (held by the replica) the caller looked up. */
  valueAt(slot: number, key: string, now: number): Buffer | undefined {
    const loc = unexpired(this.keydir.at(slot), now);
    if (!loc) return undefined;
    this.reads++;
    return valueOf(this.log.readEntry(loc, key), loc);
  }

  /** The sequence number of the replica's copy of `key` (undefined when absent). */
  seqOf(key: string): number | undefined { return this.keydir.seqOf(key); }

  close(): void { this.log.close(); }
}

/** The value inside an entry read from `loc` (past its key and any deadline). */
export function valueOf(entry: Buffer, loc: KeyLocation): Buffer {
  return entry.subarray(ENTRY_HEADER_BYTES + loc.keyLen + (loc.deadline === undefined ? 0 : DEADLINE_BYTES));
}
