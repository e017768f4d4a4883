import { CorruptionError } from '../../../errors.js';
import type { LogFile } from './logFile.js';
import { ENTRY_HEADER_BYTES, FILE_HEADER_BYTES, entryChecksumOk, readEntryHeader } from './record.js';
import type { ScrubStatus } from '../../../backend.js';

const WINDOW = 1024 * 1024;

/**
 * A background check of a log opened from the hint file, whose entries the
 * open did not read: bit rot at rest since the last close is found here,
 * a slice at a time between batches of ops, instead of at the first read
 * of a damaged entry (or the first scanned open after a crash). It only
 * reads; what to do about damage is the engine's call (it reports it).
 */
export class LogScrub {
  private offset = FILE_HEADER_BYTES;
  private readonly fd: number;
  private buf = Buffer.allocUnsafe(WINDOW);
  readonly status: ScrubStatus;

  /** Checks `log`'s entries before `end`: those the open took from the hint without reading. */
  constructor(private readonly log: LogFile, end: number) {
    this.fd = log.fd;
    this.status = { state: end > FILE_HEADER_BYTES ? 'running' : 'done', checkedBytes: 0, totalBytes: Math.max(0, end - FILE_HEADER_BYTES) };
  }

  /** A scrub that never runs: the open already checked every entry. */
  static idle(): ScrubStatus { return { state: 'idle', checkedBytes: 0, totalBytes: 0 }; }

  get running(): boolean { return this.status.state === 'running'; }

  /**
   * Checks entries from where the last step stopped, reading about
   * `budget` bytes (at least one entry). Returns whether more remain.
   */
  step(budget: number): boolean {
    if (!this.running) return false;
    if (this.log.fd !== this.fd) { this.status.state = 'superseded'; return false; }
    const end = FILE_HEADER_BYTES + this.status.totalBytes;
    let spent = 0;
    let need = ENTRY_HEADER_BYTES;
    while (this.offset < end && spent < budget) {
      const want = Math.min(this.buf.length, end - this.offset, Math.max(budget - spent, need));
      const n = this.log.read(this.buf, want, this.offset);
      if (n < want) return this.fail(this.offset + n, 'the log is shorter than it was at open');
      let at = 0;
      while (at < n) {
        const left = end - this.offset - at;
        if (left < ENTRY_HEADER_BYTES) return this.fail(this.offset + at, 'entry is cut short');
        if (n - at < ENTRY_HEADER_BYTES) break; // the header straddles the window: read it from its start
        const h = readEntryHeader(this.buf, at);
        if (!h || h.size > left) return this.fail(this.offset + at, 'entry header is not valid');
        if (at + h.size > n) break;
        if (!entryChecksumOk(this.buf, at, h.size)) return this.fail(this.offset + at, 'entry fails its checksum');
        at += h.size;
      }
      if (at === 0) {
        // One entry larger than this read (values go up to 16 MiB): read all of it next.
        const h = readEntryHeader(this.buf, 0);
        if (!h || h.size <= want) return this.fail(this.offset, 'entry is cut short');
        if (h.size > this.buf.length) this.buf = Buffer.allocUnsafe(h.size);
        need = h.size;
        continue;
      }
      this.offset += at;
      spent += at;
      need = ENTRY_HEADER_BYTES;
      this.status.checkedBytes = this.offset - FILE_HEADER_BYTES;
    }
    if (this.offset >= end) { this.status.state = 'done'; this.buf = Buffer.alloc(0); }
    return this.running;
  }

  /** A read failed (an I/O error): the scrub stops there. */
  failed(err: unknown): void {
    this.status.state = 'failed';
    this.status.readError = err instanceof Error ? err.message : String(err);
    this.buf = Buffer.alloc(0);
  }

  /** The first bad entry, as the error a read of it would raise. */
  get error(): CorruptionError | undefined {
    const c = this.status.corruption;
    return c && new CorruptionError(c.file, c.offset, `scrub: ${c.reason}`);
  }

  private fail(offset: number, reason: string): false {
    this.status.state = 'corrupt';
    this.buf = Buffer.alloc(0);
    this.status.corruption = { file: this.log.path, offset, reason };
    return false;
  }
}
