import { EntryType, entrySize } from './record.js';

/** Where the live version of one key sits in a log. */
export interface KeyLocation {
  /** Byte offset of the entry in its log file. */
  offset: number;
  keyLen: number;
  valLen: number;
  seq: number;
  /** When the value expires (ms since the epoch); from then on the key reads as absent. */
  deadline?: number;
}

/** The location, unless it has expired by `now`. */
export function unexpired(loc: KeyLocation | undefined, now: number): KeyLocation | undefined {
  return loc && (loc.deadline === undefined || loc.deadline > now) ? loc : undefined;
}

/** A key location (a deadline only when there is one, so most share one shape). */
export function locate(offset: number, keyLen: number, valLen: number, seq: number, deadline: number | undefined): KeyLocation {
  return deadline === undefined ? { offset, keyLen, valLen, seq } : { offset, keyLen, valLen, seq, deadline };
}

/**
 * The in-memory index of one log (Bitcask's keydir): key → location of its
 * newest live entry. Deleted keys are absent. Tracks the bytes the live
 * entries occupy, so the log's dead bytes are `fileSize - header - liveBytes`.
 */
export class Keydir {
  private readonly map = new Map<string, KeyLocation>();
  private live = 0;

  get size(): number { return this.map.size; }
  get liveBytes(): number { return this.live; }

  get(key: string): KeyLocation | undefined { return this.map.get(key); }
  has(key: string): boolean { return this.map.has(key); }

  set(key: string, loc: KeyLocation): void {
    const old = this.map.get(key);
    if (old) this.live -= entrySize(old.keyLen, old.valLen);
    this.map.set(key, loc);
    this.live += entrySize(loc.keyLen, loc.valLen);
  }

  delete(key: string): boolean {
    const old = this.map.get(key);
    if (!old) return false;
    this.live -= entrySize(old.keyLen, old.valLen);
    this.map.delete(key);
    return true;
  }

  /** Applies one replayed or committed entry: a PUT points the key at it, a DELETE removes the key. */
  apply(type: EntryType, key: string, loc: KeyLocation): void {
    if (type === EntryType.Put) this.set(key, loc); else this.delete(key);
  }

  keys(): IterableIterator<string> { return this.map.keys(); }
  entries(): IterableIterator<[string, KeyLocation]> { return this.map.entries(); }
}
