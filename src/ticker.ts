import { StoreClosedError, type TickstoreError } from './errors.js';
import type { BatchOp, Condition, ExpiryOptions } from './input.js';
import type { Transaction } from './transaction.js';

export type OpName = 'get' | 'put' | 'delete' | 'exists' | 'scan' | 'batch' | 'putIf' | 'tx' | 'flush';

/** The outcome of one operation, delivered inside its ticker's `tick()`. */
export interface StoreResult {
  /** The non-zero handle the call returned. */
  handle: number;
  op: OpName;
  /** False only on an I/O or engine error (see `error`). A GET miss is ok. */
  ok: boolean;
  /** GET: the key had a value. PUT: always true. DELETE: the key existed. */
  found: boolean;
  /** A GET answered by the memcache, with no disk read and no worker round trip. */
  fromCache: boolean;
  /** A GET's value (its own copy). */
  value?: Uint8Array;
  /** A conditional put: whether the condition held and the value was written. A mismatch is ok && !applied. */
  applied?: boolean;
  /** EXISTS and conditional puts: the key's version after the op (its commit sequence number; absent when the key is). */
  version?: number;
  /** A SCAN's page, in key order (reversed with `reverse`). */
  entries?: { key: string; value: Uint8Array }[];
  /** A SCAN's continuation: pass it as `cursor` for the next page; absent on the last page. */
  cursor?: string;
  /** A ticker transaction that committed: what its closure returned. */
  txResult?: unknown;
  error?: TickstoreError;
}

export interface TickerOptions {
  /** Called for each result inside `tick()`. Without it, results queue for `poll()`. */
  onResult?: (result: StoreResult) => void;
}

/** An ordered scan: by prefix and/or bounds, lexicographic by the keys' UTF-8 bytes. */
export interface ScanOptions {
  /** Only keys starting with this ('' or absent: all keys). */
  prefix?: string;
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  /** Most entries in the page (1..10000, default 100). */
  limit?: number;
  /** Descending order. */
  reverse?: boolean;
  /** The `cursor` of the previous page, to continue after it. */
  cursor?: string;
}

/** Options of a put: an expiry, and whether it must be fsync'd before its result whatever the flush policy. */
export interface WriteOptions extends ExpiryOptions {
  /** Fsync this write (and every write before it) before acknowledging it, even under the grouped policy. */
  durable?: boolean;
}

export interface GetOptions {
  /** On a read-store read, keep the value in the memcache (default true). */
  cacheOnRead?: boolean;
}

/** A committed write to a watched key, delivered inside the watcher's `tick()`. */
export interface StoreChange {
  key: string;
  op: 'put' | 'delete';
  /** The new value (its own copy); undefined after a delete. */
  value: Uint8Array | undefined;
}

/** What a ticker watches: one key, or every key starting with a prefix. */
export type WatchTarget = { key: string } | { prefix: string };

/** Where the store hands a finished op; a ticker, or a promise's resolver. */
export interface ResultSink {
  deliver(result: StoreResult): void;
}

/** The store side a ticker issues through (see Store). */
export interface TickerHost {
  issue(op: OpName, key: unknown, value: unknown, cacheOnRead: boolean, sink: ResultSink, options?: unknown): number;
  runTransaction(fn: (tx: Transaction) => unknown, options: { retries?: number } | undefined, sink: ResultSink): number;
  watch(ticker: Ticker, target: WatchTarget, onChange: (change: StoreChange) => void): () => void;
  tickerTime(ms: number): void;
}

/** A FIFO of results: push at the tail, take from the head, no O(n) shift. */
class ResultQueue {
  private items: (StoreResult | undefined)[] = [];
  private head = 0;
  get length(): number { return this.items.length - this.head; }
  push(r: StoreResult): void { this.items.push(r); }
  shift(): StoreResult | undefined {
    if (this.head >= this.items.length) return undefined;
    const r = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) { this.items = []; this.head = 0; }
    return r;
  }
  clear(): void { this.items = []; this.head = 0; }
}

/**
 * One owner's (a room's) view of the store. Calls return a handle at once;
 * results surface only inside this ticker's `tick()` — to `onResult`, or into
 * the queue `poll()` reads — and never in another ticker.
 */
export class Ticker implements ResultSink {
  private readonly arrived = new ResultQueue();
  private readonly delivered = new ResultQueue();
  private changes: (() => void)[] = [];
  private readonly unwatch = new Set<() => void>();
  private disposed = false;

  constructor(private readonly host: TickerHost, private readonly opts: TickerOptions = {}) {}

  /** Starts a GET; returns its handle. */
  get(key: string, options?: GetOptions): number {
    return this.issue('get', key, undefined, options?.cacheOnRead ?? true);
  }

  /** Starts a PUT; the value is copied before this returns. It may expire or be forced durable (WriteOptions). */
  put(key: string, value: Uint8Array, options?: WriteOptions): number {
    return this.issue('put', key, value, false, options);
  }

  /** Starts a DELETE. */
  delete(key: string): number {
    return this.issue('delete', key, undefined, false);
  }

  /**
   * Starts a conditional put: written only if the key is absent
   * (`{ absent: true }`), has version `{ version }`, or holds exactly
   * `{ value }` (undefined: absent). The result's `applied` says which.
   */
  putIf(key: string, value: Uint8Array, condition: Condition, options?: WriteOptions): number {
    return this.issue('putIf', key, { value, condition }, false, options);
  }

  /** Starts an atomic batch of puts and deletes (one commit unit: all or nothing, across a crash too). */
  batch(ops: BatchOp[]): number {
    return this.issue('batch', '', ops, false);
  }

  /** Starts an EXISTS: `found` tells whether the key has a value (no value is read). */
  exists(key: string): number {
    return this.issue('exists', key, undefined, false);
  }

  /** Starts one page of an ordered scan (see ScanOptions); the result carries `entries` and `cursor`. */
  scan(options: ScanOptions = {}): number {
    return this.issue('scan', '', options, false);
  }

  /**
   * Starts a transaction (see Store.transaction); its result arrives at a
   * tick like any other: `applied` with `txResult` (what `fn` returned) when
   * it committed; `ok && !applied` when it kept conflicting past its retries;
   * `ok: false` with a TransactionAbortedError (the throw as `cause`) when
   * `fn` threw. Nothing is written unless it committed.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: { retries?: number }): number {
    if (this.disposed) throw new StoreClosedError('this ticker is disposed');
    return this.host.runTransaction(fn, options, this);
  }

  /** Starts a FLUSH: its result is ok once every write issued before it (by anyone) is durable. */
  flush(): number {
    return this.issue('flush', '', undefined, false);
  }

  private issue(op: OpName, key: unknown, value: unknown, cacheOnRead: boolean, options?: unknown): number {
    if (this.disposed) throw new StoreClosedError('this ticker is disposed');
    return this.host.issue(op, key, value, cacheOnRead, this, options);
  }

  /** @internal The store hands over a finished op; it waits for the next tick. */
  deliver(result: StoreResult): void {
    if (!this.disposed) this.arrived.push(result);
  }

  /**
   * Calls `onChange` inside this ticker's `tick()` for every committed write
   * (from any ticker or promise of this store) to the key or under the
   * prefix. Returns a function that stops watching; `dispose()` stops all.
   */
  watch(target: WatchTarget, onChange: (change: StoreChange) => void): () => void {
    if (this.disposed) throw new StoreClosedError('this ticker is disposed');
    const stop = this.host.watch(this, target, onChange);
    const off = (): void => { stop(); this.unwatch.delete(off); };
    this.unwatch.add(off);
    return off;
  }

  /** @internal A watched key changed; the callback runs at the next tick. */
  notify(run: () => void): void {
    if (!this.disposed) this.changes.push(run);
  }

  /**
   * Delivers every result that has completed, in completion order (FIFO),
   * then every watched change. Returns how many results. If a callback
   * throws, the rest stay for the next tick.
   */
  tick(): number {
    const n = this.arrived.length;
    if (n === 0 && this.changes.length === 0) return 0;
    const t0 = performance.now();
    const cb = this.opts.onResult;
    let count = 0;
    try {
      for (let i = 0; i < n && !this.disposed; i++) {
        const r = this.arrived.shift();
        if (!r) break;
        count++;
        if (cb) cb(r); else this.delivered.push(r);
      }
      const changes = this.changes;
      this.changes = [];
      for (let i = 0; i < changes.length && !this.disposed; i++) {
        try { changes[i]!(); } catch (err) { this.changes = changes.slice(i + 1).concat(this.changes); throw err; }
      }
    } finally {
      this.host.tickerTime(performance.now() - t0);
    }
    return count;
  }

  /** The next delivered result, or undefined (only when no onResult was given). */
  poll(): StoreResult | undefined { return this.delivered.shift(); }

  /** Results not yet delivered by `tick()`. */
  get waiting(): number { return this.arrived.length; }

  /** Drops queued results and ignores ones still in flight (e.g. the room was disposed). */
  dispose(): void {
    for (const off of [...this.unwatch]) off();
    this.disposed = true;
    this.arrived.clear();
    this.delivered.clear();
    this.changes = [];
  }

  get isDisposed(): boolean { return this.disposed; }
}
