import { CorruptionError } from '../errors.js';
import type { FileSystem } from './fs.js';
import { Keydir } from './keydir.js';
import { LogFile } from './logFile.js';
import { ENTRY_HEADER_BYTES, EntryType, LogKind, entrySize, sealAsLast, writeEntry } from './record.js';
import type { CommittedGroup, WriteStore } from './writeStore.js';

export const READ_LOG = 'read.log';

/**
 * The replica that serves GETs: a second log in the same format, fed from the
 * write store — the same bytes appended right after each commit (per-key
 * mode) or later in batches (async-batch). It is never fsync'd: `open`
 * reconciles it key by key against the write store, so whatever a crash left
 * in it (a stale tail, a torn entry, garbage) is repaired before it serves a
 * read. A replica that fails its checks is rebuilt from the source of truth.
 */
export class ReadStore {
  readonly keydir = new Keydir();
  reads = 0;
  /** Entries rewritten by the last reconcile (0 when the replica was current). */
  repaired = 0;
  /** True when the replica file had to be discarded and rebuilt at open. */
  rebuilt = false;

  private out = Buffer.allocUnsafe(64 * 1024);

  private constructor(readonly log: LogFile) {}

  static open(fs: FileSystem, dir: string, source: WriteStore): ReadStore {
    let rs: ReadStore | undefined;
    let rebuilt = false;
    try {
      rs = new ReadStore(LogFile.open(fs, dir, READ_LOG, LogKind.Read, false));
      rs.load();
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      rs?.log.close();
      // Derived data: start it over from the source of truth.
      LogFile.createEmpty(fs, dir, READ_LOG, LogKind.Read, false);
      rs = new ReadStore(LogFile.open(fs, dir, READ_LOG, LogKind.Read, false));
      rebuilt = true;
    }
    rs.rebuilt = rebuilt;
    rs.reconcile(source);
    return rs;
  }

  private load(): void {
    this.log.recover((unit) => {
      for (const e of unit) this.keydir.apply(e.type, e.key, { offset: e.offset, keyLen: e.keyLen, valLen: e.valLen, seq: e.seq });
    }, false);
  }

  /** Makes every key's live state equal the write store's (same sequence number, or absent). */
  private reconcile(source: WriteStore): void {
    let fixes = 0;
    for (const [key, loc] of source.keydir.entries()) {
      if (this.keydir.get(key)?.seq === loc.seq) continue;
      const entry = source.log.readEntry(loc, key);
      // It may sit inside a multi-entry unit of the write log; alone here, it closes its own.
      sealAsLast(entry, 0, entry.length);
      const offset = this.log.append(entry, entry.length);
      this.keydir.set(key, { offset, keyLen: loc.keyLen, valLen: loc.valLen, seq: loc.seq });
      fixes++;
    }
    const extra: string[] = [];
    for (const key of this.keydir.keys()) if (!source.keydir.has(key)) extra.push(key);
    for (const key of extra) {
      const kb = Buffer.from(key, 'utf8');
      const buf = this.room(entrySize(kb.length, 0));
      const end = writeEntry(buf, 0, EntryType.Delete, true, source.lastSeq, kb, undefined);
      this.log.append(buf, end);
      this.keydir.delete(key);
      fixes++;
    }
    this.repaired = fixes;
  }

  private room(size: number): Buffer {
    if (this.out.length < size) this.out = Buffer.allocUnsafe(size);
    return this.out;
  }

  /** Mirrors a committed write group: the same bytes, appended verbatim. */
  apply(group: CommittedGroup): void {
    const base = this.log.append(group.bytes, group.bytes.length);
    for (const e of group.entries) this.keydir.apply(e.type, e.key, { offset: base + e.at, keyLen: e.keyLen, valLen: e.valLen, seq: e.seq });
  }

  /** The value of `key` as the replica has it: a view valid until the next read, or undefined. */
  get(key: string): Buffer | undefined {
    const loc = this.keydir.get(key);
    if (!loc) return undefined;
    this.reads++;
    const entry = this.log.readEntry(loc, key);
    return entry.subarray(ENTRY_HEADER_BYTES + loc.keyLen);
  }

  /** The sequence number of the replica's copy of `key` (undefined when absent). */
  seqOf(key: string): number | undefined { return this.keydir.get(key)?.seq; }

  close(): void { this.log.close(); }
}
