import { StoreClosedError, type TickstoreError } from './errors.js';
import { optionalFunction, readOptions, type BatchOp, type Condition, type ExpiryOptions } from './input.js';
import type { Transaction, TransactionOptions } from './transaction.js';
import type { Lease } from './lease.js';

/** Which operation a {@link StoreResult} answers. */
export type OpName = 'get' | 'put' | 'delete' | 'exists' | 'scan' | 'batch' | 'putIf' | 'tx' | 'flush';

/** The outcome of one operation, delivered inside its ticker's `tick()`. */
export interface StoreResult {
  /** The non-zero handle the call returned. */
  handle: number;
  /** The operation it answers. */
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
  /** Why the op failed, when `ok` is false: a {@link StoreIOError}, {@link CorruptionError}, {@link StoreClosedError} (the engine is gone), or for a transaction whose closure threw, a {@link TransactionAbortedError}. */
  error?: TickstoreError;
}

/** Options of {@link Store.ticker}. */
export interface TickerOptions {
  /** Called for each result inside `tick()`, in completion order. Default: none — results queue for `poll()` instead. */
  onResult?: (result: StoreResult) => void;
}

/** An ordered scan: by prefix and/or bounds, lexicographic by the keys' UTF-8 bytes. */
export interface ScanOptions {
  /** Only keys starting with this (default: '' — all keys); a non-empty prefix must be a valid key. */
  prefix?: string;
  /** Only keys after this one (exclusive lower bound; a valid key). Default: none. */
  gt?: string;
  /** Only keys from this one on (inclusive lower bound; a valid key). Default: none. */
  gte?: string;
  /** Only keys before this one (exclusive upper bound; a valid key). Default: none. */
  lt?: string;
  /** Only keys up to this one (inclusive upper bound; a valid key). Default: none. */
  lte?: string;
  /** Most entries in the page: a whole number in 1..10000 (default 100). */
  limit?: number;
  /** Descending key order (default false). */
  reverse?: boolean;
  /** The `cursor` of the previous page, to continue strictly after its last key; the other options must match that scan's direction. Default: none (the first page). */
  cursor?: string;
}

/** Options of a put: an expiry, and whether it must be fsync'd before its result whatever the flush policy. */
export interface WriteOptions extends ExpiryOptions, DeleteOptions {}

/** Options of a delete and a batch (and, with {@link ExpiryOptions}, of a put: {@link WriteOptions}). */
export interface DeleteOptions {
  /** Make this write (and every write before it) durable before acknowledging it, even under the grouped flush policy (default false). */
  durable?: boolean;
  /**
   * Apply the write only while this lease (from {@link Store.lease}) is its
   * scope's current one, checked atomically with the write; otherwise the
   * result fails with {@link LeaseLostError} and nothing is written.
   */
  fence?: Lease;
}

/** Options of a GET ({@link Ticker.get}, {@link Store.get}). */
export interface GetOptions {
  /** On a read-store read, keep the value in the memcache (default true). Values with an expiry are never cached. */
  cacheOnRead?: boolean;
}

/** A committed write to a watched key, delivered inside the watcher's `tick()`. */
export interface StoreChange {
  /** The key written. */
  key: string;
  /**
   * What the write was (a batch or transaction reports each of its writes);
   * `expire`: the key's deadline passed (told when the engine sweeps it out,
   * about once a second; reads see it absent from the deadline on).
   */
  op: 'put' | 'delete' | 'expire';
  /** The new value (its own copy); undefined after a delete or an expiry. */
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
  issue(op: OpName, key: unknown, value: unknown, sink: ResultSink, options?: unknown): number;
  runTransaction(fn: unknown, options: unknown, sink: ResultSink): number;
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
 * One owner's (a room's) view of the store, from {@link Store.ticker}. Calls
 * return a non-zero handle at once; results surface only inside this
 * ticker's {@link Ticker.tick} — to `onResult`, or into the queue
 * {@link Ticker.poll} reads — and never in another ticker. All ops issued in
 * one tick travel to the engine as one message.
 *
 * Bad input throws a typed error at the call and issues nothing; an I/O or
 * engine failure arrives as a result with `ok: false` and `error`.
 *
 * @example
 * ```ts
 * const ticker = store.ticker();
 * const handle = ticker.get(key);
 * ticker.put(other, bytes, { ttlMs: 60_000 });
 * // later, inside the room's tick:
 * ticker.tick();
 * for (let r = ticker.poll(); r; r = ticker.poll()) {
 *   if (r.handle === handle && r.ok && r.found) use(r.value!);
 * }
 * ```
 */
export class Ticker implements ResultSink {
  private readonly arrived = new ResultQueue();
  private readonly delivered = new ResultQueue();
  private changes: (() => void)[] = [];
  private readonly unwatch = new Set<() => void>();
  private disposed = false;
  private readonly onResult: ((result: StoreResult) => void) | undefined;

  /** @internal Use `store.ticker()`; `options` is checked here, so a bad callback fails at the call, not inside a later tick(). */
  constructor(private readonly host: TickerHost, options?: TickerOptions) {
    this.onResult = optionalFunction('onResult', readOptions(options, 'ticker', ['onResult']).onResult);
  }

  /**
   * Starts a GET; its result has `found` and `value`, and `fromCache: true`
   * when the memcache answered (no disk read, no worker round trip; it still
   * surfaces at the next `tick()`).
   *
   * @param options `cacheOnRead` (default true; see {@link GetOptions}).
   * @returns The op's handle.
   * @throws {@link InvalidKeyError} `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link InvalidArgumentError} An unknown option, or a non-boolean `cacheOnRead`.
   * @throws {@link StoreClosedError} The ticker is disposed, or the store is closed.
   */
  get(key: string, options?: GetOptions): number {
    return this.issue('get', key, undefined, options);
  }

  /**
   * Starts a PUT; the value is copied before this returns. Its result comes
   * once the write is acknowledged per the flush policy (`found` is always
   * true).
   *
   * @param options It may expire (`ttlMs`, `expiresAt`) or be forced `durable` (see {@link WriteOptions}).
   * @returns The op's handle.
   * @throws {@link InvalidKeyError} `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link InvalidValueError} `value` is not a `Uint8Array` of at most {@link MAX_VALUE_BYTES} bytes.
   * @throws {@link InvalidArgumentError} Bad write options: an unknown field, both `ttlMs` and `expiresAt`, either out of range, or a non-boolean `durable`.
   * @throws {@link StoreClosedError} The ticker is disposed, or the store is closed.
   *
   * @example
   * ```ts
   * ticker.put(buildKey(1, userId), bytes);
   * ticker.put(inviteKey, invite, { expiresAt: Date.parse('2026-12-01') });
   * ```
   */
  put(key: string, value: Uint8Array, options?: WriteOptions): number {
    return this.issue('put', key, value, options);
  }

  /**
   * Starts a DELETE; its result's `found` tells whether the key existed.
   *
   * @returns The op's handle.
   * @throws {@link InvalidKeyError} `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link StoreClosedError} The ticker is disposed, or the store is closed.
   */
  delete(key: string, options?: DeleteOptions): number {
    return this.issue('delete', key, undefined, options);
  }

  /**
   * Starts a conditional put: written only if the key is absent
   * (`{ absent: true }`), has version `{ version }`, or holds exactly
   * `{ value }` (undefined: absent). The condition sees every write issued
   * before it. The result's `applied` says whether it was written (a
   * mismatch is `ok && !applied`, not an error), and `version` is the key's
   * version after the op.
   *
   * @param condition `{ absent: true }`, `{ version }` or `{ value }` (see {@link Condition}).
   * @param options It may expire or be forced `durable` (see {@link WriteOptions}).
   * @returns The op's handle.
   * @throws {@link InvalidKeyError} `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link InvalidValueError} `value` is not a `Uint8Array` of at most {@link MAX_VALUE_BYTES} bytes.
   * @throws {@link InvalidArgumentError} A condition that is none of the three forms, a version that is not a whole number >= 1, or bad write options.
   * @throws {@link StoreClosedError} The ticker is disposed, or the store is closed.
   *
   * @example
   * ```ts
   * ticker.putIf(lockKey, owner, { absent: true }, { ttlMs: 5_000 });
   * ticker.putIf(key, next, { version: 12 });
   * ```
   */
  putIf(key: string, value: Uint8Array, condition: Condition, options?: WriteOptions): number {
    return this.issue('putIf', key, { value, condition }, options);
  }

  /**
   * Starts an atomic batch of puts and deletes (one commit unit: all or
   * nothing, across a crash too).
   *
   * @param ops 1 to {@link MAX_BATCH_OPS} ops (see {@link BatchOp}), of at most {@link MAX_BATCH_BYTES} encoded.
   * @returns The op's handle.
   * @throws {@link InvalidArgumentError} Not an array of 1..MAX_BATCH_OPS ops, more than {@link MAX_BATCH_BYTES} encoded, an op of unknown type or with unknown fields, or bad expiry options.
   * @throws {@link InvalidKeyError} | {@link InvalidValueError} An op's key or value is invalid.
   * @throws {@link StoreClosedError} The ticker is disposed, or the store is closed.
   *
   * @example
   * ```ts
   * ticker.batch([
   *   { type: 'put', key: buildKey(2, alice, [sword]), value: itemBytes },
   *   { type: 'delete', key: buildKey(2, bob, [sword]) },
   * ]);
   * ```
   */
  batch(ops: BatchOp[], options?: DeleteOptions): number {
    return this.issue('batch', '', ops, options);
  }

  /**
   * Starts an EXISTS: `found` tells whether the key has a value (no value is
   * read), and `version` is its version when it has one.
   *
   * @returns The op's handle.
   * @throws {@link InvalidKeyError} `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link StoreClosedError} The ticker is disposed, or the store is closed.
   */
  exists(key: string): number {
    return this.issue('exists', key, undefined);
  }

  /**
   * Starts one page of an ordered scan (see {@link Store.scan}); the result
   * carries `entries` and `cursor` (absent on the last page).
   *
   * @param options See {@link ScanOptions}; default: the first 100 keys.
   * @returns The op's handle.
   * @throws {@link InvalidArgumentError} An unknown option, a `limit` outside 1..10000, a non-boolean `reverse`, or an invalid cursor.
   * @throws {@link InvalidKeyError} A `prefix` or bound that is not a valid key.
   * @throws {@link StoreClosedError} The ticker is disposed, or the store is closed.
   *
   * @example
   * ```ts
   * ticker.scan({ prefix: keyPrefix(1, userId), limit: 50 });
   * // in a later tick: result.entries, then scan({ …, cursor: result.cursor }) for the next page
   * ```
   */
  scan(options: ScanOptions = {}): number {
    return this.issue('scan', '', options);
  }

  /**
   * Starts a transaction (see Store.transaction); its result arrives at a
   * tick like any other: `applied` with `txResult` (what `fn` returned) when
   * it committed; `ok && !applied` when it kept conflicting past its retries;
   * `ok: false` with a TransactionAbortedError (the throw as `cause`) when
   * `fn` threw. Nothing is written unless it committed.
   *
   * @param fn The transaction's body; it may run more than once.
   * @param options `retries`: how many times a conflicting attempt is run again (see {@link TransactionOptions}).
   * @returns The op's handle.
   * @throws {@link InvalidArgumentError} `fn` is not a function, an unknown option, or `retries` not a whole number in 0..{@link MAX_TX_RETRIES}.
   * @throws {@link StoreClosedError} The ticker is disposed, or the store is closed.
   *
   * @example
   * ```ts
   * ticker.transaction(async (tx) => {
   *   const gold = Number(text(await tx.get(goldKey)) || '0');
   *   tx.put(goldKey, encode(String(gold + 10)));
   *   return gold + 10;
   * });
   * // its result, at a tick: r.op === 'tx', r.applied, r.txResult
   * ```
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): number {
    if (this.disposed) throw new StoreClosedError('this ticker is disposed');
    return this.host.runTransaction(fn, options, this);
  }

  /**
   * Starts a FLUSH: its result is ok once every write issued before it (by
   * anyone) is durable, and `ok: false` with the error if that cannot be done.
   *
   * @returns The op's handle.
   * @throws {@link StoreClosedError} The ticker is disposed, or the store is closed.
   */
  flush(): number {
    return this.issue('flush', '', undefined);
  }

  private issue(op: OpName, key: unknown, value: unknown, options?: unknown): number {
    if (this.disposed) throw new StoreClosedError('this ticker is disposed');
    return this.host.issue(op, key, value, this, options);
  }

  /** @hidden Not for users (hidden from the API reference but kept in the declarations, as it implements the store's result-sink interface). The store hands over a finished op; it waits for the next tick. */
  deliver(result: StoreResult): void {
    if (!this.disposed) this.arrived.push(result);
  }

  /**
   * Calls `onChange` inside this ticker's `tick()` for every committed write
   * (from any ticker or promise of this store) to the key or under the
   * prefix. Returns a function that stops watching; `dispose()` stops all.
   *
   * @param target `{ key }` or `{ prefix }` (see {@link WatchTarget}).
   * @param onChange Called with each change (see {@link StoreChange}).
   * @returns A function that stops this watch.
   * @throws {@link InvalidKeyError} `{ key }` is not a valid key, `{ prefix }` is neither '' nor a valid key, or the target is neither `{ key }` nor `{ prefix }`.
   * @throws {@link InvalidArgumentError} `onChange` is not a function, or the target has other fields.
   * @throws {@link StoreClosedError} The ticker is disposed, or the store is closed.
   *
   * @example
   * ```ts
   * const stop = ticker.watch({ prefix: 'world:' }, (change) => {
   *   console.log(change.key, change.op, change.value?.length);
   * });
   * ```
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
   * throws, the exception propagates and the rest stay for the next tick.
   * Call it from the room's clock tick.
   *
   * @returns How many results were delivered.
   */
  tick(): number {
    const n = this.arrived.length;
    if (n === 0 && this.changes.length === 0) return 0;
    const t0 = performance.now();
    const cb = this.onResult;
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

  /** The next result `tick()` delivered, or undefined; results queue here only when no `onResult` was given. */
  poll(): StoreResult | undefined { return this.delivered.shift(); }

  /** Results not yet delivered by `tick()`. */
  get waiting(): number { return this.arrived.length; }

  /**
   * Drops queued results and ignores ones still in flight (e.g. the room was
   * disposed), and stops every watch. Ops already issued still run; further
   * calls throw {@link StoreClosedError}.
   */
  dispose(): void {
    for (const off of [...this.unwatch]) off();
    this.disposed = true;
    this.arrived.clear();
    this.delivered.clear();
    this.changes = [];
  }

  /** Whether {@link Ticker.dispose} has been called. */
  get isDisposed(): boolean { return this.disposed; }
}
