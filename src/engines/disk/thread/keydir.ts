import { EntryType, entrySize } from './record.js';
import { MAX_KEY_BYTES } from '../../../keys.js';

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

/** FNV-1a over key bytes: cheap, and good enough for an open-addressing table of keys. */
function hashBytes(b: Uint8Array, start: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = start, end = start + len; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

const NONE = -1;
/** Which log holds a key: the bits of `KeyTable.refs`. */
export const WRITE_LOG_BIT = 1;
export const READ_LOG_BIT = 2;
const MIN_CAPACITY = 1024;

/** Called when the table's slot capacity grows: views resize their columns. */
interface Column { grow(capacity: number): void }

/**
 * The keys of both logs, each stored once as UTF-8 bytes in one arena and
 * numbered by a slot; a key keeps its slot while either log holds it.
 *
 * Why not a `Map<string, object>` per log: at a million keys that costs
 * ~280 bytes per key in strings, map entries and location objects, and
 * rebuilding it is most of an open. Here a key costs its bytes plus a few
 * fixed-width columns (typed arrays, outside the JS heap's object graph), so
 * an index can be built from bytes without a string per key and written to,
 * and read back from, a hint file as flat arrays.
 *
 * Lookup: linear probing over `buckets` (slot numbers), comparing the stored
 * hash, then the bytes. Deletion shifts the following run back (no
 * tombstones), so probe lengths stay short under churn.
 */
export class KeyTable {
  private buckets: Int32Array = new Int32Array(MIN_CAPACITY * 2).fill(NONE);
  private mask = MIN_CAPACITY * 2 - 1;
  /** Per slot: the key's hash, its bytes' offset in the arena, its length, and which logs hold it (bit per log). */
  hashes: Uint32Array = new Uint32Array(MIN_CAPACITY);
  keyAt: Uint32Array = new Uint32Array(MIN_CAPACITY);
  keyLens: Uint16Array = new Uint16Array(MIN_CAPACITY);
  refs: Uint8Array = new Uint8Array(MIN_CAPACITY);
  private arena: Buffer = Buffer.allocUnsafe(64 * 1024);
  private arenaLen = 0;
  /** Arena bytes of released keys, reclaimed by `packArena`. */
  private arenaGarbage = 0;
  /** Slots ever handed out; below it, a slot with `refs == 0` is free (listed in `free`). */
  top = 0;
  private free: number[] = [];
  private count = 0;
  private readonly columns: Column[] = [];
  /** Encodes string keys for lookup: a valid key is at most MAX_KEY_BYTES, so this always has room. */
  private readonly scratch = Buffer.allocUnsafe(MAX_KEY_BYTES * 3 + 4);

  get capacity(): number { return this.hashes.length; }
  /** Keys held by at least one log. */
  get size(): number { return this.count; }

  attach(c: Column): void { this.columns.push(c); c.grow(this.capacity); }

  /** The table's contents, for a hint file: columns up to `top` and the buckets (views, not copies), the arena, the free slots. */
  exportState(): KeyTableState {
    const n = this.top;
    return {
      top: n, live: this.count, garbage: this.arenaGarbage, free: Int32Array.from(this.free), buckets: this.buckets,
      hashes: this.hashes.subarray(0, n), keyAt: this.keyAt.subarray(0, n), keyLens: this.keyLens.subarray(0, n),
      refs: this.refs.subarray(0, n), arena: this.arena.subarray(0, this.arenaLen),
    };
  }

  /**
   * Adopts a hint file's contents (the arrays themselves, no copy, and no
   * pass over the slots: a million keys load in the time the file takes to
   * read) in place of this empty table's. Throws if they do not fit
   * together; the table is then unchanged and the caller scans the logs.
   */
  importState(st: KeyTableState): void {
    if (this.count !== 0) throw new Error('importState needs an empty table');
    const n = st.top;
    const buckets = st.buckets.length;
    if (st.hashes.length !== n || st.keyAt.length !== n || st.keyLens.length !== n || st.refs.length !== n ||
        st.live + st.free.length !== n || st.garbage < 0 || st.garbage > st.arena.length) throw new Error('hint: the table does not add up');
    if (buckets < MIN_CAPACITY * 2 || (buckets & (buckets - 1)) !== 0 || st.live * 2 > buckets) throw new Error('hint: bad bucket count');
    this.buckets = st.buckets;
    this.mask = buckets - 1;
    this.hashes = st.hashes;
    this.keyAt = st.keyAt;
    this.keyLens = st.keyLens;
    this.refs = st.refs;
    this.arena = st.arena;
    this.arenaLen = st.arena.length;
    this.arenaGarbage = st.garbage;
    this.top = n;
    this.count = st.live;
    this.free = Array.from(st.free);
  }

  /** The slot of `key`, or -1. */
  findString(key: string): number {
    // Every UTF-16 unit is at least one byte: a longer string cannot be a valid key.
    if (key.length > MAX_KEY_BYTES) return NONE;
    const len = this.scratch.write(key, 0, 'utf8');
    return len > MAX_KEY_BYTES ? NONE : this.find(this.scratch, 0, len, hashBytes(this.scratch, 0, len));
  }

  /** The slot of the key in `b[start, start + len)`, or -1. */
  findBytes(b: Uint8Array, start: number, len: number): number {
    return this.find(b, start, len, hashBytes(b, start, len));
  }

  /**
   * The slot of `key`, added if absent. The caller must reference it at once
   * (a slot nobody references is taken for free).
   */
  internString(key: string): number {
    const len = this.scratch.write(key, 0, 'utf8');
    // A longer key would have been cut short by the write: never index a truncated key.
    if (len > MAX_KEY_BYTES) throw new RangeError(`key longer than ${MAX_KEY_BYTES} bytes`);
    return this.intern(this.scratch, 0, len);
  }

  /** `internString` for the key in `b[start, start + len)`. */
  intern(b: Uint8Array, start: number, len: number): number {
    const h = hashBytes(b, start, len);
    const found = this.find(b, start, len, h);
    if (found !== NONE) return found;
    if (this.count + 1 > (this.mask + 1) >>> 1) this.rehash((this.mask + 1) * 2);
    const slot = this.takeSlot();
    if (this.arenaLen + len > this.arena.length) this.growArena(len);
    this.arena.set(b.subarray(start, start + len), this.arenaLen);
    this.hashes[slot] = h;
    this.keyAt[slot] = this.arenaLen;
    this.keyLens[slot] = len;
    this.refs[slot] = 0;
    this.arenaLen += len;
    let i = h & this.mask;
    while (this.buckets[i] !== NONE) i = (i + 1) & this.mask;
    this.buckets[i] = slot;
    this.count++;
    return slot;
  }

  /** Called when a log stops holding `slot`: with no log left holding it, the key goes. */
  unref(slot: number, bit: number): void {
    const refs = this.refs[slot]! & ~bit;
    this.refs[slot] = refs;
    if (refs === 0) this.remove(slot);
  }

  keyString(slot: number): string {
    const at = this.keyAt[slot]!;
    return this.arena.toString('utf8', at, at + this.keyLens[slot]!);
  }

  /** Compares the key of `slot` with `b` by bytes (<0, 0, >0), in place. */
  compareKey(slot: number, b: Buffer): number {
    const at = this.keyAt[slot]!;
    return this.arena.compare(b, 0, b.length, at, at + this.keyLens[slot]!);
  }

  /** Whether the key of `slot` starts with the bytes `p`, in place. */
  keyStartsWith(slot: number, p: Buffer): boolean {
    const at = this.keyAt[slot]!;
    return this.keyLens[slot]! >= p.length && this.arena.compare(p, 0, p.length, at, at + p.length) === 0;
  }

  /** The key's bytes: a view into the arena, valid until the next insertion. */
  keyBytes(slot: number): Buffer {
    const at = this.keyAt[slot]!;
    return this.arena.subarray(at, at + this.keyLens[slot]!);
  }

  private find(b: Uint8Array, start: number, len: number, h: number): number {
    const { buckets, mask, hashes, keyLens, keyAt, arena } = this;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const slot = buckets[i]!;
      if (slot === NONE) return NONE;
      if (hashes[slot] !== h || keyLens[slot] !== len) continue;
      const at = keyAt[slot]!;
      let j = 0;
      while (j < len && arena[at + j] === b[start + j]) j++;
      if (j === len) return slot;
    }
  }

  private takeSlot(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.top === this.capacity) this.growSlots();
    return this.top++;
  }

  private remove(slot: number): void {
    const { buckets, mask, hashes } = this;
    let i = hashes[slot]! & mask;
    while (buckets[i] !== slot) i = (i + 1) & mask;
    // Backward shift: move later members of the run into the hole when their home allows it.
    for (let j = (i + 1) & mask; buckets[j] !== NONE; j = (j + 1) & mask) {
      const home = hashes[buckets[j]!]! & mask;
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!between) { buckets[i] = buckets[j]!; i = j; }
    }
    buckets[i] = NONE;
    this.arenaGarbage += this.keyLens[slot]!;
    this.free.push(slot);
    this.count--;
    if (this.arenaGarbage > 1024 * 1024 && this.arenaGarbage > this.arenaLen / 2) this.packArena();
  }

  private rehash(buckets: number): void {
    this.buckets = new Int32Array(buckets).fill(NONE);
    this.mask = buckets - 1;
    for (let slot = 0; slot < this.top; slot++) {
      if (this.refs[slot] === 0) continue;
      let i = this.hashes[slot]! & this.mask;
      while (this.buckets[i] !== NONE) i = (i + 1) & this.mask;
      this.buckets[i] = slot;
    }
  }

  private growSlots(): void {
    const cap = Math.max(MIN_CAPACITY, this.capacity * 2);
    this.hashes = grown(this.hashes, new Uint32Array(cap));
    this.keyAt = grown(this.keyAt, new Uint32Array(cap));
    this.keyLens = grown(this.keyLens, new Uint16Array(cap));
    this.refs = grown(this.refs, new Uint8Array(cap));
    for (const c of this.columns) c.grow(cap);
  }

  private growArena(need: number): void {
    // 1.5x, not 2x: the arena's slack counts against the index's bytes per key.
    const next = Buffer.allocUnsafe(Math.max(this.arenaLen + need, Math.ceil(this.arena.length * 1.5)));
    this.arena.copy(next, 0, 0, this.arenaLen);
    this.arena = next;
  }

  /** Copies the live keys into a fresh arena, dropping released ones. */
  private packArena(): void {
    const next = Buffer.allocUnsafe(Math.max(64 * 1024, Math.ceil((this.arenaLen - this.arenaGarbage) * 1.25)));
    let len = 0;
    for (let slot = 0; slot < this.top; slot++) {
      if (this.refs[slot] === 0) continue;
      const at = this.keyAt[slot]!;
      const n = this.keyLens[slot]!;
      this.arena.copy(next, len, at, at + n);
      this.keyAt[slot] = len;
      len += n;
    }
    this.arena = next;
    this.arenaLen = len;
    this.arenaGarbage = 0;
  }
}

/** A key table's contents, as a hint file holds them. */
export interface KeyTableState {
  top: number;
  /** Slots held by at least one log. */
  live: number;
  /** Arena bytes no live slot points at. */
  garbage: number;
  /** Free slots, the next to reuse last. */
  free: Int32Array;
  /** Slot per bucket (-1: empty): a power of two, at least twice the live keys. */
  buckets: Int32Array;
  hashes: Uint32Array;
  keyAt: Uint32Array;
  keyLens: Uint16Array;
  refs: Uint8Array;
  arena: Buffer;
}

/** One log's index columns, as a hint file holds them (slots below the table's `top`). */
export interface KeydirState {
  /** Keys this log holds, and the bytes their entries take. */
  count: number;
  liveBytes: number;
  offsets: Float64Array;
  seqs: Float64Array;
  valLens: Uint32Array;
  deadlines: Map<number, number>;
}

/** `next`, holding `old`'s values at its start. */
function grown<T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(old: ArrayLike<number>, next: T): T {
  next.set(old);
  return next;
}

/**
 * The in-memory index of one log (Bitcask's keydir): key → location of its
 * newest live entry, as columns over the shared KeyTable's slots. Deleted
 * keys are absent. Tracks the bytes the live entries occupy, so the log's
 * dead bytes are `fileSize - header - liveBytes`.
 */
export class Keydir implements Column {
  private offsets: Float64Array = new Float64Array(0);
  private seqs: Float64Array = new Float64Array(0);
  private valLens: Uint32Array = new Uint32Array(0);
  /** Deadlines are rare: a map, not a column. */
  private readonly deadlines = new Map<number, number>();
  private count = 0;
  private live = 0;

  /** `bit` marks this log's keys in the table's `refs`. */
  constructor(readonly table: KeyTable, private readonly bit: number) { table.attach(this); }

  grow(capacity: number): void {
    this.offsets = grown(this.offsets.subarray(0, capacity), new Float64Array(capacity));
    this.seqs = grown(this.seqs.subarray(0, capacity), new Float64Array(capacity));
    this.valLens = grown(this.valLens.subarray(0, capacity), new Uint32Array(capacity));
  }

  /** This log's columns up to the table's `top` (views, not copies), for a hint file. */
  exportState(): KeydirState {
    const n = this.table.top;
    return {
      count: this.count, liveBytes: this.live, deadlines: this.deadlines,
      offsets: this.offsets.subarray(0, n), seqs: this.seqs.subarray(0, n), valLens: this.valLens.subarray(0, n),
    };
  }

  /** Adopts a hint file's columns (no copy), after the table adopted its state (`KeyTable.importState`). */
  importState(st: KeydirState): void {
    const n = this.table.top;
    if (st.offsets.length !== n || st.seqs.length !== n || st.valLens.length !== n || st.count > this.table.size) throw new Error('hint: column lengths differ');
    this.offsets = st.offsets;
    this.seqs = st.seqs;
    this.valLens = st.valLens;
    this.count = st.count;
    this.live = st.liveBytes;
    this.deadlines.clear();
    for (const [slot, d] of st.deadlines) if (this.holds(slot)) this.deadlines.set(slot, d);
  }

  get size(): number { return this.count; }
  get liveBytes(): number { return this.live; }

  /** The slot of `key` if this log holds it, else -1. */
  slotOf(key: string): number {
    const slot = this.table.findString(key);
    return slot !== NONE && this.holds(slot) ? slot : NONE;
  }

  holds(slot: number): boolean { return (this.table.refs[slot]! & this.bit) !== 0; }

  get(key: string): KeyLocation | undefined {
    const slot = this.slotOf(key);
    return slot === NONE ? undefined : this.at(slot);
  }

  has(key: string): boolean { return this.slotOf(key) !== NONE; }

  /** The sequence number of `key`'s entry, or undefined. */
  seqOf(key: string): number | undefined {
    const slot = this.slotOf(key);
    return slot === NONE ? undefined : this.seqs[slot];
  }

  /** The location held for `slot` (which this log must hold). */
  at(slot: number): KeyLocation {
    const d = this.deadlines.size === 0 ? undefined : this.deadlines.get(slot);
    return locate(this.offsets[slot]!, this.table.keyLens[slot]!, this.valLens[slot]!, this.seqs[slot]!, d);
  }

  offsetAt(slot: number): number { return this.offsets[slot]!; }
  seqAt(slot: number): number { return this.seqs[slot]!; }
  deadlineAt(slot: number): number | undefined { return this.deadlines.size === 0 ? undefined : this.deadlines.get(slot); }

  set(key: string, loc: KeyLocation): void {
    this.put(this.table.internString(key), loc.offset, loc.valLen, loc.seq, loc.deadline);
  }

  delete(key: string): boolean {
    const slot = this.slotOf(key);
    if (slot === NONE) return false;
    this.drop(slot);
    return true;
  }

  /** `apply` for an entry whose key is `b[start, start + keyLen)`: no string is made. */
  applyBytes(type: EntryType, b: Uint8Array, start: number, keyLen: number, offset: number, valLen: number, seq: number, deadline: number | undefined): void {
    if (type === EntryType.Put) { this.put(this.table.intern(b, start, keyLen), offset, valLen, seq, deadline); return; }
    const slot = this.table.findBytes(b, start, keyLen);
    if (slot !== NONE && this.holds(slot)) this.drop(slot);
  }

  /** Points `slot` at a new offset in the same log (compaction moved the entry). */
  move(slot: number, offset: number): void { this.offsets[slot] = offset; }

  /** Removes `slot` from this log's index. */
  drop(slot: number): void {
    this.live -= entrySize(this.table.keyLens[slot]!, this.valLens[slot]!);
    this.deadlines.delete(slot);
    this.count--;
    this.table.unref(slot, this.bit);
  }

  /** Where `dropExpired` left off: deadlines are swept a slice at a time. */
  private sweep: Iterator<[number, number]> | undefined;

  /** Whether any key has a deadline. */
  get hasDeadlines(): boolean { return this.deadlines.size > 0; }

  /**
   * Drops keys whose deadline is at or before `now`, looking at up to `max`
   * deadlines from where the last call stopped (a Map iterator survives the
   * deletes); `onDrop` sees each slot before it goes. Reads already treat
   * an expired key as absent; this takes it out of the counts and the live
   * bytes, so compaction reclaims it. Returns whether the sweep went round.
   */
  dropExpired(now: number, max: number, onDrop?: (slot: number) => void): boolean {
    this.sweep ??= this.deadlines.entries();
    for (let i = 0; i < max; i++) {
      const next = this.sweep.next();
      if (next.done) { this.sweep = undefined; return true; }
      const [slot, deadline] = next.value;
      if (deadline > now) continue;
      onDrop?.(slot);
      this.drop(slot);
    }
    return false;
  }

  /** Lets go of every key. */
  clear(): void {
    for (const slot of this.slots()) this.drop(slot);
  }

  /** Points `slot` (a key of the table) at an entry of this log. */
  setAt(slot: number, offset: number, valLen: number, seq: number, deadline: number | undefined): void {
    this.put(slot, offset, valLen, seq, deadline);
  }

  private put(slot: number, offset: number, valLen: number, seq: number, deadline: number | undefined): void {
    const keyLen = this.table.keyLens[slot]!;
    if (this.holds(slot)) this.live -= entrySize(keyLen, this.valLens[slot]!);
    else { this.count++; this.table.refs[slot]! |= this.bit; }
    this.offsets[slot] = offset;
    this.valLens[slot] = valLen;
    this.seqs[slot] = seq;
    if (deadline === undefined) { if (this.deadlines.size > 0) this.deadlines.delete(slot); } else this.deadlines.set(slot, deadline);
    this.live += entrySize(keyLen, valLen);
  }

  /** The slots this log holds, as of now. */
  slots(): Int32Array {
    const out = new Int32Array(this.count);
    let n = 0;
    for (let slot = 0; slot < this.table.top; slot++) if (this.holds(slot)) out[n++] = slot;
    return out;
  }

  *keys(): IterableIterator<string> {
    for (const slot of this.slots()) yield this.table.keyString(slot);
  }

  *entries(): IterableIterator<[string, KeyLocation]> {
    for (const slot of this.slots()) yield [this.table.keyString(slot), this.at(slot)];
  }
}
