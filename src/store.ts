import { NO_WRITE_FLAGS, type Backend, type BackendReply, type RemoteChange, type ReplyHandler, type ScanSpec, type WriteFlags, type WriteOp } from './backend.js';
import { checkTunables, engineConfig, type Tunables } from './config.js';
import {
  InvalidArgumentError, InvalidConfigError, InvalidKeyError, LeaseHeldError, StoreClosedError, TickstoreError, TransactionAbortedError,
  TransactionConflictError, asStoreError, describeValue, fromErrorShape,
} from './errors.js';
import { Lease, checkLease, type LeaseHost, type LeaseOptions } from './lease.js';
import { Transaction, TxRetry, checkTransaction, type TransactionOptions } from './transaction.js';
import {
  checkBatch, checkConditional, checkKey, checkScan, checkValue, checkWriteOptions, encodeCursor, guard, optionalBoolean, readOptions,
  type BatchOp, type ExpiryOptions,
} from './input.js';
import { Memcache } from './memcache.js';
import { giveCopy, keepCopy } from './bytes.js';
import { describeError, msSince, storeLog } from './log.js';
import type { ScrubStatus, TierStats } from './backend.js';
import {
  Ticker, type OpName, type ResultSink, type ScanOptions, type StoreChange, type StoreResult, type TickerHost, type TickerOptions,
  type WatchTarget, type WriteOptions, type DeleteOptions,
} from './ticker.js';

interface Watcher { ticker: Ticker; onChange: (change: StoreChange) => void; active: boolean }

/**
 * Everything {@link Store.metrics} reports, synchronously. Store figures
 * (cache, pump time) are current; engine figures are as of the engine's latest
 * reply.
 */
export interface StoreMetrics {
  /** Reads the read store served (memcache misses that reached disk). */
  readStoreReads: number;
  /** GETs the memcache answered, with no disk read and no worker round trip. */
  cacheHits: number;
  /** GETs and EXISTS that went to the engine (a memcache miss, a key with a write in flight, or an EXISTS, which the memcache never answers). */
  cacheMisses: number;
  /** Memcache entries (bounded by `memcacheCapacity`). */
  memcacheSize: number;
  /** Memcache bytes of values (bounded by `memcacheMaxBytes`). */
  memcacheBytes: number;
  /** Live keys in the write store (the log of record). */
  writeCount: number;
  /** Live keys in the read store (the replica). */
  readCount: number;
  /** Compactions completed since open. */
  compactions: number;
  /** Size of the write log, in bytes. */
  writeLogBytes: number;
  /** Bytes of the write log that hold no live entry (superseded values and tombstones): what compaction reclaims. */
  writeLogDeadBytes: number;
  /** Size of the read log (the replica), in bytes. */
  readLogBytes: number;
  /** Dead bytes of the read log. */
  readLogDeadBytes: number;
  /** fdatasyncs of the write log since open. */
  fsyncs: number;
  /** Ops handed to the engine and not yet answered. */
  opsInFlight: number;
  /** Committed writes the replica has not mirrored yet (async-batch, or after a failed replica append). */
  replicaLag: number;
  /** Bytes truncated from the write log's end at open: a torn tail and/or the zeros written ahead of it (unclean exit). */
  truncatedBytes: number;
  /** Replica entries repaired at open. */
  replicaRepaired: number;
  /** Whether the replica had to be rebuilt at open. */
  replicaRebuilt: boolean;
  /** Open read both logs' indexes from the hint file a clean close left, instead of scanning the logs. */
  openedFromHint: boolean;
  /** Total time spent delivering results and changes in tickers' `tick()`, in ms. */
  pumpTimeMs: number;
  /** The longest single `tick()`, in ms. */
  pumpTimeMaxMs: number;
  /** `tick()` calls that delivered something (the ones counted in `pumpTimeMs`). */
  pumpTicks: number;
  /** The message of the latest failed compaction since open (the old log is kept and compaction retried), if any. */
  lastCompactionError: string | undefined;
  /** Acknowledged bytes not yet fsync'd (grouped flush policy). */
  unsyncedBytes: number;
  /** Bytes of committed groups held in memory for the replica while its appends fail (at most 64 MiB). */
  replicaQueueBytes: number;
  /** Times that queue overflowed: its copies were dropped and the replica resynced from the write log, without a reopen. */
  replicaQueueDrops: number;
  /** Keys taken out of the index since open because their deadline passed (swept about once a second; reads see them absent at once). */
  expiredKeys: number;
  /** The background check of the write log after an open from the hint (bit rot at rest); see {@link StoreHealth}. */
  scrub: ScrubStatus;
  /** On a `tieredBackend`: each tier's figures, and how the backup keeps up (failures, repairs pending). Absent otherwise. */
  tiers?: TierStats;
}

/**
 * What {@link Store.health} reports: whether the store needs an operator's
 * attention, and why. It never throws; the store keeps serving what it can.
 */
export interface StoreHealth {
  /** False when any problem below stands. */
  ok: boolean;
  /**
   * What stands, most serious first: `engine-dead` (the engine thread died:
   * every op fails; close the store and open it again), `corruption` (the scrub found a damaged
   * entry: restore from a backup or accept the loss of that entry),
   * `scrub-failed` (the scrub could not read the log), `flush-error` (an
   * fsync failed; writes fail until a rewrite succeeds, retried on its own),
   * `backup-behind` (a tiered backend's backup missed writes: repairs are
   * pending, or were dropped — run `verifyBackup`).
   */
  problems: { kind: 'engine-dead' | 'corruption' | 'scrub-failed' | 'flush-error' | 'backup-behind'; message: string }[];
  /** Where the write-log scrub stands. */
  scrub: ScrubStatus;
}

/** Runs when a write's answer (or refusal) is known: settles its memcache and watch bookkeeping. */
type WriteDone = (error: TickstoreError | undefined, applied?: boolean) => void;

/** One key's write, as its memcache and watch bookkeeping sees it. */
interface KeyWrite { op: 'put' | 'delete'; key: string; value: Uint8Array | undefined; deadline: number | undefined }

function keyWrites(ops: readonly WriteOp[]): KeyWrite[] {
  return ops.map((o) => (o.type === 'put'
    ? { op: 'put', key: o.key, value: o.value, deadline: o.expiresAt }
    : { op: 'delete', key: o.key, value: undefined, deadline: undefined }));
}

/** What a transaction commit carries: the versions it read (0: absent) and its writes. */
interface TxCommit { reads: Map<string, number>; ops: WriteOp[] }

/**
 * An open store, from {@link openStore} (or {@link createRegistry}): the
 * promise forms of every operation, {@link Store.ticker} for tick-driven
 * code, and maintenance. It validates input, hands out handles and keeps the
 * memcache and metrics, over an engine that does the real work elsewhere (on
 * a worker thread); everything here runs on the main thread and never blocks.
 *
 * Every call validates its input first: bad input throws a typed error at
 * the call site (the promise forms reject) and writes nothing. After
 * {@link Store.close}, every call fails with {@link StoreClosedError}.
 *
 * @example
 * ```ts
 * const store = await openStore({ dir: './data' });
 * await store.put(key, bytes);
 * const value = await store.get(key);      // Uint8Array | undefined
 * const existed = await store.delete(key); // boolean
 * await store.close();
 * ```
 */
export class Store implements TickerHost, LeaseHost {
  private tun: Tunables;
  private readonly cache: Memcache;
  private nextHandle = 0;
  /** Writes issued and not yet answered, per key: the memcache is bypassed for them. */
  private readonly pendingWrites = new Map<string, number>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private hits = 0;
  private misses = 0;
  private pumpTotal = 0;
  private pumpMax = 0;
  private pumpTicks = 0;
  private readonly keyWatchers = new Map<string, Set<Watcher>>();
  /** Remote changes seen (shared engines): a GET caches only if none touched its key since it was issued. */
  private remoteGen = 0;
  /** key → the generation of its latest remote change (bounded: past MAX_REMOTE_TRACKED it is cleared and the floor raised). */
  private readonly lastRemote = new Map<string, number>();
  /** GETs issued before this generation never cache. */
  private remoteFloor = 0;
  /** The engine's change feed is down: nothing read is cached, nothing cached is served. */
  private cacheOff = false;
  private readonly prefixWatchers = new Map<string, Set<Watcher>>();

  /** @internal Use `openStore`. */
  constructor(private readonly backend: Backend, tunables: Tunables, private readonly dir = '') {
    this.tun = tunables;
    // Shared engines: a change notice lost without the feed noticing can leave a cached value stale for at most this long.
    this.cache = new Memcache({ maxEntries: tunables.memcacheCapacity, maxBytes: tunables.memcacheMaxBytes,
      maxAgeMs: backend.supports.sharedAcrossProcesses ? SHARED_CACHE_MAX_AGE_MS : undefined });
    backend.onExpired((keys) => this.expiredInEngine(keys));
    backend.onRemoteChange((change) => this.changedElsewhere(change));
  }

  /**
   * Another process committed a change (shared engines): the key's cached
   * value goes, a read already in flight for it must not cache what it
   * brings back, and its watchers hear of it, with the value the notice
   * carried (small values) or one read anew.
   * `resync`: changes may have been missed (the subscription dropped):
   * everything cached goes, and the memcache is bypassed until it is back.
   */
  private changedElsewhere(change: RemoteChange): void {
    if (this.closed) return;
    this.remoteGen++;
    if (change.resync) {
      this.cache.clear();
      this.lastRemote.clear();
      this.remoteFloor = this.remoteGen;
      this.cacheOff = !change.connected;
      if (change.connected) this.catchUpWatchers();
      return;
    }
    const { key } = change;
    this.cache.invalidate(key);
    if (this.lastRemote.size >= MAX_REMOTE_TRACKED) { this.lastRemote.clear(); this.remoteFloor = this.remoteGen; }
    this.lastRemote.set(key, this.remoteGen);
    const watchers = this.watchersOf(key);
    if (!watchers) return;
    if (change.op !== 'put') { this.notifyWatchers(watchers, { key, op: change.op, value: undefined }); return; }
    if (change.value) { this.notifyWatchers(watchers, { key, op: 'put', value: change.value }); return; }
    const gen = this.remoteGen;
    this.backend.get(key, (reply, error) => {
      // Gone again (or unreadable) by now: a later notice (or none, if this one was superseded) tells the rest.
      // Overtaken by a newer notice (it arrives on another connection, so it can): that one told, and is newer.
      if (error || !reply.found || this.closed || !this.noRemoteChangeSince(key, gen)) return;
      this.notifyWatchers(watchers, { key, op: 'put', value: keepCopy(reply.value!) });
    });
  }

  /** No remote change to `key` was heard since remote generation `gen` (nor a resync, nor a tracking overflow). */
  private noRemoteChangeSince(key: string, gen: number): boolean {
    return gen >= this.remoteFloor && (this.lastRemote.get(key) ?? 0) <= gen;
  }

  /**
   * The change feed is back after a gap: changes in between were missed, so
   * every watched key, and the first CATCH_UP_LIMIT keys under each watched
   * prefix, is read and its watchers hear its current state (perhaps one they
   * knew). A read that a newer notice overtook delivers nothing: the notice told.
   */
  private catchUpWatchers(): void {
    const gen = this.remoteGen;
    // A failed read (the main connection may still be reconnecting) is retried, a while.
    const retry = (attempt: number, again: (attempt: number) => void): void => {
      if (!this.closed && attempt < CATCH_UP_ATTEMPTS) setTimeout(() => again(attempt + 1), CATCH_UP_RETRY_MS).unref();
    };
    for (const [key, set] of this.keyWatchers) {
      const read = (attempt: number): void => this.backend.get(key, (reply, error) => {
        if (error) { retry(attempt, read); return; }
        if (this.closed || !this.noRemoteChangeSince(key, gen)) return;
        this.notifyWatchers([...set], reply.found ? { key, op: 'put', value: keepCopy(reply.value!) } : { key, op: 'delete', value: undefined });
      });
      read(0);
    }
    for (const [prefix, set] of this.prefixWatchers) {
      const read = (attempt: number): void => this.backend.scan({ prefix, limit: CATCH_UP_LIMIT, reverse: false }, (reply, error) => {
        if (error) { retry(attempt, read); return; }
        if (this.closed) return;
        for (const e of reply.entries ?? []) {
          if (this.noRemoteChangeSince(e.key, gen)) this.notifyWatchers([...set], { key: e.key, op: 'put', value: keepCopy(e.value) });
        }
      });
      read(0);
    }
  }

  /** Whether a GET issued at remote generation `gen` may cache its value for `key`: no remote change to it came since. */
  private cacheable(key: string, gen: number): boolean {
    return !this.cacheOff && this.noRemoteChangeSince(key, gen);
  }

  /** The engine swept keys whose deadline passed: their watchers hear of it. */
  private expiredInEngine(keys: readonly string[]): void {
    if (this.closed || (this.keyWatchers.size === 0 && this.prefixWatchers.size === 0)) return;
    for (const key of keys) {
      // A write in flight to the key is newer than the expiry: its own notice follows.
      if (this.pendingWrites.has(key)) continue;
      const watchers = this.watchersOf(key);
      if (watchers) this.notifyWatchers(watchers, { key, op: 'expire', value: undefined });
    }
  }

  /**
   * A new ticker: one per owner (a room). Its calls return a handle at once;
   * their results surface only inside its own {@link Ticker.tick}, never in
   * another ticker's.
   *
   * @param options `onResult`, called for each result inside `tick()`; without it, results queue for {@link Ticker.poll}.
   * @throws {@link InvalidArgumentError} An unknown option, or an `onResult` that is not a function.
   * @throws {@link StoreClosedError} The store is closed.
   *
   * @example
   * ```ts
   * const ticker = store.ticker({
   *   onResult: (r) => { if (r.op === 'get' && r.found) use(r.value!); },
   * });
   * ticker.get(key);
   * room.clock.setInterval(() => ticker.tick(), 0);   // results arrive in the room's tick
   * ```
   */
  ticker(options?: TickerOptions): Ticker {
    this.assertOpen();
    return new Ticker(this, options);
  }

  /**
   * Reads `key`. A memcache hit never reaches the engine. An expired key
   * reads as absent.
   *
   * @param options `cacheOnRead` (default true): keep a value read from the read store in the memcache (see {@link GetOptions}).
   * @returns The value (the caller's own copy), or undefined when the key is absent.
   * @throws {@link InvalidKeyError} (rejects) `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link InvalidArgumentError} (rejects) An unknown option, or a non-boolean `cacheOnRead`.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} | {@link CorruptionError} (rejects) The engine failed the op (a file-system error, or damaged bytes on disk).
   *
   * @example
   * ```ts
   * const bytes = await store.get(buildKey(1, userId));
   * const profile = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : undefined;
   * ```
   */
  get(key: string, options?: { cacheOnRead?: boolean }): Promise<Uint8Array | undefined> {
    return this.promised('get', key, undefined, (r) => r.value, options);
  }

  /**
   * Writes `key`; resolves once the write is acknowledged — fsync'd under the
   * immediate flush policy, written to the log under the grouped one (or
   * fsync'd with `durable`). With `ttlMs` or `expiresAt` the value expires:
   * from then on the key reads as absent, and compaction removes it. A put
   * without either makes the key permanent again. An empty value is a value,
   * not a delete. The value is copied before this returns.
   *
   * @param options `ttlMs` or `expiresAt`, and `durable` (see {@link WriteOptions}).
   * @throws {@link InvalidKeyError} (rejects) `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link InvalidValueError} (rejects) `value` is not a `Uint8Array` of at most {@link MAX_VALUE_BYTES} bytes.
   * @throws {@link InvalidArgumentError} (rejects) Bad write options: an unknown field, both `ttlMs` and `expiresAt`, or either out of range.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} (rejects) The write failed, or an fsync failure stands (see {@link Store.flushError}): nothing new is acknowledged until it heals.
   *
   * @example
   * ```ts
   * await store.put(key, new TextEncoder().encode('{"gold":10}'));
   * await store.put(sessionKey, token, { ttlMs: 30 * 60_000 });
   * ```
   */
  put(key: string, value: Uint8Array, options?: WriteOptions): Promise<void> {
    return this.promised('put', key, value, () => undefined, options);
  }

  /**
   * Writes `key` and fsyncs it — with every write issued before it — before
   * resolving, whatever the flush policy (`put` with `durable: true`).
   *
   * @param options `ttlMs` or `expiresAt` (see {@link ExpiryOptions}).
   * @throws {@link InvalidKeyError} (rejects) `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link InvalidValueError} (rejects) `value` is not a `Uint8Array` of at most {@link MAX_VALUE_BYTES} bytes.
   * @throws {@link InvalidArgumentError} (rejects) Bad write options: an unknown field, both `ttlMs` and `expiresAt`, or either out of range.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} (rejects) The write failed, or an fsync failure stands (see {@link Store.flushError}): nothing new is acknowledged until it heals.
   */
  writeDurable(key: string, value: Uint8Array, options?: ExpiryOptions): Promise<void> {
    return this.promised('put', key, value, () => undefined, options, true);
  }

  /**
   * Resolves once every write issued before it is durable (fsync'd). Rejects
   * — never hangs — if that cannot be done: the error is then `flushError`.
   *
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} (rejects) The fsync failed, or an earlier failure has not healed yet (the same error as {@link Store.flushError}).
   */
  flush(): Promise<void> {
    return this.promised('flush', '', undefined, () => undefined);
  }

  /**
   * Why acknowledged writes are not durable yet, if an fsync failed: the
   * engine rewrites them in the background (and on `flush()`), and fails new
   * writes with this error until that succeeds. Reading it clears nothing.
   */
  get flushError(): TickstoreError | undefined {
    const e = this.backend.stats().flushError;
    return e ? fromErrorShape(e) : undefined;
  }

  /**
   * Deletes `key`: a tombstone in the log, acknowledged like a put (per the
   * flush policy).
   *
   * @returns Whether the key existed.
   * @throws {@link InvalidKeyError} (rejects) `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} (rejects) The write failed, or an fsync failure stands (see {@link Store.flushError}): nothing new is acknowledged until it heals.
   */
  delete(key: string, options?: DeleteOptions): Promise<boolean> {
    return this.promised('delete', key, undefined, (r) => r.found, options);
  }

  /**
   * Applies puts and deletes atomically: all of them, or (on error, or across
   * a crash) none. A put may expire (`ttlMs` or `expiresAt` on the op).
   *
   * @param ops 1 to {@link MAX_BATCH_OPS} ops (see {@link BatchOp}), of at most {@link MAX_BATCH_BYTES} encoded.
   * @throws {@link InvalidArgumentError} (rejects) Not an array of 1..MAX_BATCH_OPS ops, more than {@link MAX_BATCH_BYTES} encoded, an op of unknown type or with unknown fields, or bad expiry options.
   * @throws {@link InvalidKeyError} | {@link InvalidValueError} (rejects) An op's key or value is invalid.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} (rejects) The write failed, or an fsync failure stands (see {@link Store.flushError}): nothing new is acknowledged until it heals.
   *
   * @example
   * ```ts
   * await store.batch([
   *   { type: 'put', key: buildKey(2, alice, [sword]), value: itemBytes },
   *   { type: 'delete', key: buildKey(2, bob, [sword]) },
   * ]);
   * ```
   */
  batch(ops: BatchOp[], options?: DeleteOptions): Promise<void> {
    return this.promised('batch', '', ops, () => undefined, options);
  }

  /**
   * Writes `value` only if `key` is absent (or expired). The condition sees
   * every write issued before it; a mismatch is a normal outcome (false), not
   * an error.
   *
   * @param options The write may expire in turn (`ttlMs`, `expiresAt`) or be forced `durable` (see {@link WriteOptions}).
   * @returns Whether it wrote.
   * @throws {@link InvalidKeyError} (rejects) `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link InvalidValueError} (rejects) `value` is not a `Uint8Array` of at most {@link MAX_VALUE_BYTES} bytes.
   * @throws {@link InvalidArgumentError} (rejects) Bad write options: an unknown field, both `ttlMs` and `expiresAt`, or either out of range.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} (rejects) The write failed, or an fsync failure stands (see {@link Store.flushError}): nothing new is acknowledged until it heals.
   *
   * @example
   * ```ts
   * const claimed = await store.putIfAbsent(lockKey, owner, { ttlMs: 5_000 });  // a lock that frees itself
   * ```
   */
  putIfAbsent(key: string, value: Uint8Array, options?: WriteOptions): Promise<boolean> {
    return this.promised('putIf', key, { value, condition: { absent: true } }, (r) => r.applied === true, options);
  }

  /**
   * Writes `next` only if `key` holds exactly `expected` (undefined: absent).
   * A mismatch is a normal outcome (false), not an error.
   *
   * @returns Whether it wrote.
   * @throws {@link InvalidKeyError} (rejects) `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link InvalidValueError} (rejects) `expected` (when given) or `next` is not a `Uint8Array` within {@link MAX_VALUE_BYTES}.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} (rejects) The write failed, or an fsync failure stands (see {@link Store.flushError}): nothing new is acknowledged until it heals.
   */
  compareAndSwap(key: string, expected: Uint8Array | undefined, next: Uint8Array): Promise<boolean> {
    return this.promised('putIf', key, { value: next, condition: { value: expected } }, (r) => r.applied === true);
  }

  /**
   * Writes `value` only if `key` is at version `ifVersion` (from
   * {@link Store.version} or an earlier conditional write). A mismatch is a
   * normal outcome (`applied: false`), not an error.
   *
   * @returns Whether it wrote, and the key's version after the op (undefined when the key is absent).
   * @throws {@link InvalidArgumentError} (rejects) `ifVersion` is not a whole number >= 1.
   * @throws {@link InvalidKeyError} (rejects) `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link InvalidValueError} (rejects) `value` is not a `Uint8Array` of at most {@link MAX_VALUE_BYTES} bytes.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} (rejects) The write failed, or an fsync failure stands (see {@link Store.flushError}): nothing new is acknowledged until it heals.
   *
   * @example
   * ```ts
   * const v = await store.version(key);
   * const { applied } = await store.putVersioned(key, next, v!);
   * ```
   */
  putVersioned(key: string, value: Uint8Array, ifVersion: number): Promise<{ applied: boolean; version: number | undefined }> {
    return this.promised('putIf', key, { value, condition: { version: ifVersion } },
      (r) => ({ applied: r.applied === true, version: r.version }));
  }

  /**
   * The key's current version: its last write's sequence number. No value is
   * read.
   *
   * @returns The version, or undefined when the key is absent (or expired).
   * @throws {@link InvalidKeyError} (rejects) `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} | {@link CorruptionError} (rejects) The engine failed the op (a file-system error, or damaged bytes on disk).
   */
  version(key: string): Promise<number | undefined> {
    return this.promised('exists', key, undefined, (r) => r.version);
  }

  /**
   * Runs `fn` as an optimistic transaction: its reads see the store (and its
   * own writes), its writes commit together — atomically, also across a
   * crash — only if no key it read changed meanwhile; otherwise it runs again,
   * up to `retries` times, then rejects with TransactionConflictError. If `fn`
   * throws, nothing is written. Resolves to `fn`'s result.
   *
   * Every read sees one consistent state: a read made after a key read
   * earlier has changed does not return; the attempt is abandoned and run
   * again instead. A throw from `fn` is passed on only when everything it
   * read is still current (what it saw was real) — otherwise it is retried.
   *
   * @param fn The transaction's body; it may run more than once, so keep it free of other side effects.
   * @param options `retries`: how many times a conflicting attempt is run again (see {@link TransactionOptions}).
   * @returns What `fn` returned, from the attempt that committed.
   * @throws {@link InvalidArgumentError} (rejects) `fn` is not a function, an unknown option, or `retries` not a whole number in 0..{@link MAX_TX_RETRIES}.
   * @throws {@link TransactionConflictError} (rejects) Every attempt met a concurrent write to what it read; nothing was written.
   * @throws (rejects) Whatever `fn` threw (its reads still current); nothing was written.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} (rejects) The write failed, or an fsync failure stands (see {@link Store.flushError}): nothing new is acknowledged until it heals.
   *
   * @example
   * ```ts
   * const moved = await store.transaction(async (tx) => {
   *   const from = JSON.parse(text(await tx.get(aliceInv)));
   *   const to = JSON.parse(text(await tx.get(bobInv)));
   *   to.push(from.splice(from.indexOf('sword'), 1)[0]);
   *   tx.put(aliceInv, encode(from));
   *   tx.put(bobInv, encode(to));
   *   return true;
   * });
   * ```
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): Promise<T> {
    const retries = checkTransaction(fn, options);
    this.assertOpen();
    return this.runAttempts(fn, retries);
  }

  private async runAttempts<T>(fn: (tx: Transaction) => Promise<T> | T, retries: number): Promise<T> {
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      const tx = new Transaction(this);
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        if (err instanceof TxRetry) continue;
        if (tx.reads.size > 0 && !(await this.commitTx({ reads: tx.reads, ops: [] }))) continue;
        throw err;
      }
      if (await this.commitTx({ reads: tx.reads, ops: tx.ops })) return result;
    }
    throw new TransactionConflictError(retries + 1);
  }

  /** @hidden Not for users (hidden from the API reference but kept in the declarations, as it implements the ticker's host interface). A ticker's transaction: runs it, and hands its outcome to `sink` as a result. */
  runTransaction(fn: unknown, options: unknown, sink: ResultSink): number {
    const retries = checkTransaction(fn, options);
    this.assertOpen();
    const handle = ++this.nextHandle;
    const base = { handle, op: 'tx' as const, fromCache: false };
    this.runAttempts(fn as (tx: Transaction) => unknown, retries).then(
      (txResult) => sink.deliver({ ...base, ok: true, found: true, applied: true, txResult }),
      (err: unknown) => {
        if (err instanceof TransactionConflictError) sink.deliver({ ...base, ok: true, found: false, applied: false });
        else sink.deliver({ ...base, ok: false, found: false, error: err instanceof TickstoreError ? err : new TransactionAbortedError(err) });
      });
    return handle;
  }

  /** Commits `writes` if every version in `reads` is still current; resolves to whether it did. */
  private commitTx(tx: TxCommit): Promise<boolean> {
    return this.promised('tx', '', tx, (r) => r.applied === true);
  }

  /** @internal A transaction's read: the value and its version (0: absent), from the source of truth in one step. */
  readVersioned(key: string, reads: Map<string, number>): Promise<{ value: Uint8Array | undefined; version: number }> {
    try {
      checkKey(key);
      this.assertOpen();
      return new Promise((resolve, reject) => {
        this.backend.txRead(key, reads, (reply, error) => {
          if (error) { reject(error); return; }
          if (reply.stale) { reject(new TxRetry()); return; }
          resolve({ version: reply.version ?? 0, value: reply.found ? giveCopy(reply.value!) : undefined });
        });
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Takes the single-writer lease of `scope` (e.g. `keyPrefix(1, userId)`:
   * one player's records): granted only if no other holder has it or its
   * holder's lease lapsed. Its token is larger than any the scope had
   * before; writes given `{ fence: lease }` apply only while it is current
   * (see {@link Lease}). On the disk and memory engines leases live in this
   * process; on Redis they are shared by every process, judged by the
   * server's clock.
   *
   * @param scope What the lease guards: a non-empty string that is a valid key (on Redis Cluster a player scope shares the slot of that player's keys).
   * @param options `ttlMs`: how long it lasts unless renewed (see {@link LeaseOptions}).
   * @returns The lease.
   * @throws {@link LeaseHeldError} (rejects) Another holder has it and it has not lapsed.
   * @throws {@link InvalidArgumentError} | {@link InvalidKeyError} (rejects) A bad scope, or a ttl that is not a whole number in 1..{@link MAX_LEASE_TTL_MS}.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreUnavailableError} | {@link OutcomeUnknownError} (rejects) The shared engine could not be reached, or its answer was lost.
   */
  lease(scope: string, options: LeaseOptions): Promise<Lease> {
    return new Promise((resolve, reject) => {
      const ttlMs = checkLease(scope, options);
      this.assertOpen();
      this.backend.leaseAcquire(scope, ttlMs, (reply, error) => {
        if (error) reject(error);
        else if (!reply.found) reject(new LeaseHeldError(scope));
        else resolve(new Lease(this, scope, reply.version!, reply.expiresAt!, ttlMs));
      });
    });
  }

  /** @internal A lease's renew or release. */
  leaseOp(op: 'renew' | 'release', scope: string, token: number, ttlMs: number): Promise<BackendReply> {
    return new Promise((resolve, reject) => {
      this.assertOpen();
      const done: ReplyHandler = (reply, error) => (error ? reject(error) : resolve(reply));
      if (op === 'renew') this.backend.leaseRenew(scope, token, ttlMs, done);
      else this.backend.leaseRelease(scope, token, done);
    });
  }

  /**
   * Whether `key` has a value (none is read); an expired key has none.
   *
   * @throws {@link InvalidKeyError} (rejects) `key` is not a non-empty, well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} | {@link CorruptionError} (rejects) The engine failed the op (a file-system error, or damaged bytes on disk).
   */
  exists(key: string): Promise<boolean> {
    return this.promised('exists', key, undefined, (r) => r.found);
  }

  /**
   * One page of an ordered scan, by prefix and/or bounds, in the keys'
   * lexicographic UTF-8 byte order (descending with `reverse`). Each page is
   * read in one engine turn, a consistent snapshot; pass its `cursor` back for
   * the next page, which continues strictly after the last key returned.
   * Expired keys are skipped.
   *
   * @param options See {@link ScanOptions}; default: the first 100 keys.
   * @returns The page's entries (key order; the values are the caller's own copies) and the cursor of the next page (undefined on the last page).
   * @throws {@link InvalidArgumentError} (rejects) An unknown option, a `limit` outside 1..10000, a non-boolean `reverse`, or an invalid cursor (or one made for the other direction).
   * @throws {@link InvalidKeyError} (rejects) A `prefix` or bound that is not a valid key.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} | {@link CorruptionError} (rejects) The engine failed the op (a file-system error, or damaged bytes on disk).
   *
   * @example
   * ```ts
   * const page = await store.scan({ prefix: keyPrefix(1, 42n), limit: 50 });
   * for (const { key, value } of page.entries) { }    // key order
   * const next = await store.scan({ prefix: keyPrefix(1, 42n), limit: 50, cursor: page.cursor });
   * ```
   */
  scan(options: ScanOptions = {}): Promise<{ entries: { key: string; value: Uint8Array }[]; cursor: string | undefined }> {
    return this.promised('scan', '', options, (r) => ({ entries: r.entries ?? [], cursor: r.cursor }));
  }

  /** The promise form of `issue`: bad input rejects (the Promise executor turns a throw into a rejection). */
  private promised<T>(op: OpName, key: unknown, value: unknown, pick: (r: StoreResult) => T, options?: unknown, durable = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.issue(op, key, value, {
        deliver: (r) => (r.ok ? resolve(pick(r)) : reject(r.error)),
      }, options, durable);
    });
  }

  /**
   * @hidden Not for users (hidden from the API reference but kept in the declarations, as it implements the ticker's host interface).
   * The one path every op takes (tickers and promises). Every input is read and checked, and every payload
   * encoded, before any bookkeeping: bad input throws a typed error and leaves no trace. `durable` forces
   * an fsync (writeDurable).
   */
  issue(op: OpName, key: unknown, value: unknown, sink: ResultSink, options?: unknown, durable = false): number {
    this.assertOpen();
    // The hot path: a GET the memcache answers. A key it holds was checked when it went in, so it needs no check again.
    if (op === 'get' && options === undefined && typeof key === 'string' && !this.cacheOff && !this.pendingWrites.has(key)) {
      const hit = this.cache.get(key);
      if (hit) {
        this.hits++;
        const handle = ++this.nextHandle;
        sink.deliver({ handle, op, ok: true, found: true, fromCache: true, value: giveCopy(hit) });
        return handle;
      }
    }
    if (op === 'flush') {
      const handle = ++this.nextHandle;
      this.backend.flush((_reply, error) => {
        sink.deliver(error
          ? { handle, op, ok: false, found: false, fromCache: false, error }
          : { handle, op, ok: true, found: true, fromCache: false });
      });
      return handle;
    }
    if (op === 'batch') {
      const flags = checkBatchOptions(options);
      const ops = checkBatch(value);
      const handle = ++this.nextHandle;
      const done = this.beginWrites(keyWrites(ops));
      try {
        this.backend.batch(ops, flags, (_reply, error) => {
          for (const d of done) d(error);
          sink.deliver(error
            ? { handle, op: 'batch', ok: false, found: false, fromCache: false, error }
            : { handle, op: 'batch', ok: true, found: true, fromCache: false });
        });
      } catch (err) { throw settleRefused(done, err); }
      return handle;
    }
    if (op === 'tx') {
      // Built by transaction(): its writes were checked (and their total bounded) as they were staged.
      const tx = value as TxCommit;
      const handle = ++this.nextHandle;
      const done = this.beginWrites(keyWrites(tx.ops));
      try {
        this.backend.txCommit(tx.reads, tx.ops, (reply, error) => {
          for (const d of done) d(error, reply.found);
          sink.deliver(error
            ? { handle, op: 'tx', ok: false, found: false, fromCache: false, error }
            : { handle, op: 'tx', ok: true, found: true, fromCache: false, applied: reply.found });
        });
      } catch (err) { throw settleRefused(done, err); }
      return handle;
    }
    if (op === 'scan') {
      const spec = checkScan(value);
      const handle = ++this.nextHandle;
      this.startScan(handle, spec, sink);
      return handle;
    }
    checkKey(key);
    const k = key as string;
    if (op === 'get' || op === 'exists') {
      const cacheOnRead = op === 'get' ? optionalBoolean('cacheOnRead', readOptions(options, 'get', ['cacheOnRead']).cacheOnRead) ?? true : false;
      const handle = ++this.nextHandle;
      this.startGet(handle, op, k, cacheOnRead, sink);
      return handle;
    }
    if (op === 'putIf') {
      // Options first: their getters must run before the value is measured (see checkValue).
      const flags = checkWriteOptions(options);
      const { value: v, condition } = checkConditional(value as { value: unknown; condition: unknown });
      const handle = ++this.nextHandle;
      const done = this.beginWrite('put', k, v, flags.deadline);
      try {
        this.backend.putIf(k, v, condition, durable ? { ...flags, durable } : flags, (reply, error) => {
          done(error, reply.found);
          if (error) { sink.deliver({ handle, op: 'putIf', ok: false, found: false, fromCache: false, error }); return; }
          const version = reply.version;
          sink.deliver({ handle, op: 'putIf', ok: true, found: true, fromCache: false, applied: reply.found, ...(version ? { version } : {}) });
        });
      } catch (err) { throw settleRefused(done, err); }
      return handle;
    }
    if (op === 'delete') {
      const flags = checkWriteOptions(options, DELETE_OPTIONS);
      const handle = ++this.nextHandle;
      const done = this.beginWrite('delete', k, undefined, undefined);
      try {
        this.backend.delete(k, flags, (reply, error) => {
          done(error);
          sink.deliver(error
            ? { handle, op: 'delete', ok: false, found: false, fromCache: false, error }
            : { handle, op: 'delete', ok: true, found: reply.found, fromCache: false });
        });
      } catch (err) { throw settleRefused(done, err); }
      return handle;
    }
    // writeDurable takes expiry options only; its durability is forced. Options first: their getters
    // must run before the value is measured (see checkValue).
    const flags = durable ? { ...checkWriteOptions(options, EXPIRY_OPTIONS), durable } : checkWriteOptions(options);
    const bytes = checkValue(value);
    const handle = ++this.nextHandle;
    const done = this.beginWrite('put', k, bytes, flags.deadline);
    try {
      this.backend.put(k, bytes, flags, (_reply, error) => {
        done(error);
        sink.deliver(error
          ? { handle, op: 'put', ok: false, found: false, fromCache: false, error }
          : { handle, op: 'put', ok: true, found: true, fromCache: false });
      });
    } catch (err) { throw settleRefused(done, err); }
    return handle;
  }

  private startScan(handle: number, spec: ScanSpec, sink: ResultSink): void {
    this.backend.scan(spec, (reply, error) => {
      if (error) {
        sink.deliver({ handle, op: 'scan', ok: false, found: false, fromCache: false, error });
        return;
      }
      const entries = reply.entries!.map((e) => ({ key: e.key, value: giveCopy(e.value) }));
      const last = entries[entries.length - 1];
      const cursor = reply.found && last ? encodeCursor(last.key, spec.reverse) : undefined;
      sink.deliver({ handle, op: 'scan', ok: true, found: entries.length > 0, fromCache: false, entries, cursor });
    });
  }

  private startGet(handle: number, op: 'get' | 'exists', key: string, cacheOnRead: boolean, sink: ResultSink): void {
    // EXISTS answers versions too, which the memcache does not hold.
    if (op === 'get' && !this.pendingWrites.has(key) && !this.cacheOff) {
      const hit = this.cache.get(key);
      if (hit) {
        this.hits++;
        sink.deliver({ handle, op, ok: true, found: true, fromCache: true, value: giveCopy(hit) });
        return;
      }
    }
    this.misses++;
    if (op === 'exists') {
      this.backend.exists(key, (reply, error) => {
        if (error) { sink.deliver({ handle, op, ok: false, found: false, fromCache: false, error }); return; }
        const v = reply.version;
        sink.deliver({ handle, op, ok: true, found: reply.found, fromCache: false, ...(v ? { version: v } : {}) });
      });
      return;
    }
    const gen = this.remoteGen;
    this.backend.get(key, (reply, error) => {
      if (error) {
        sink.deliver({ handle, op: 'get', ok: false, found: false, fromCache: false, error });
        return;
      }
      const value = reply.found ? giveCopy(reply.value!) : undefined;
      // Never cache a value a newer write (in flight, not yet mirrored, or committed elsewhere) supersedes.
      if (value && cacheOnRead && !reply.stale && !this.pendingWrites.has(key) && this.cacheable(key, gen)) this.cache.set(key, keepCopy(value));
      sink.deliver({ handle, op: 'get', ok: true, found: reply.found, fromCache: false, value });
    });
  }

  /**
   * Raises the bookkeeping of a batch's or transaction's writes. A throw on
   * the way settles every write already raised, as failed, before it
   * propagates as a typed error: no key is left marked in flight, bypassing
   * the memcache forever.
   */
  private beginWrites(writes: KeyWrite[]): WriteDone[] {
    const done: WriteDone[] = [];
    try {
      for (const w of writes) done.push(this.beginWrite(w.op, w.key, w.value, w.deadline));
    } catch (err) {
      throw settleRefused(done, err);
    }
    return done;
  }

  /**
   * The memcache and watch bookkeeping of one key's write: derived entries go
   * now; the key's own entry is bypassed while the write is in flight and then
   * evicted or (update policy) overwritten once acknowledged. A value with a
   * deadline is never cached. Returns what to run when the engine has answered.
   */
  private beginWrite(op: 'put' | 'delete', key: string, value: Uint8Array | undefined, deadline: number | undefined): WriteDone {
    const update = this.tun.writePolicy === 'update';
    if (update) this.cache.invalidateDerived(key); else this.cache.invalidate(key);
    const keep = update && value && deadline === undefined && this.cache.has(key) ? keepCopy(value) : undefined;
    const watchers = this.watchersOf(key);
    const notifyValue = watchers && value ? keepCopy(value) : undefined;
    this.pendingWrites.set(key, (this.pendingWrites.get(key) ?? 0) + 1);
    return (error, applied = true) => {
      const left = this.pendingWrites.get(key)! - 1;
      if (left === 0) this.pendingWrites.delete(key); else this.pendingWrites.set(key, left);
      if (error || !applied) { this.cache.invalidate(key); return; }
      if (keep) this.cache.update(key, keep);
      else this.cache.invalidate(key);
      if (watchers) this.notifyWatchers(watchers, { key, op, value: notifyValue });
    };
  }

  /** @hidden Not for users (hidden from the API reference but kept in the declarations, as it implements the ticker's host interface); use `ticker.watch`. Registers a ticker's watch; returns the function that removes it. */
  watch(ticker: Ticker, target: WatchTarget, onChange: (change: StoreChange) => void): () => void {
    this.assertOpen();
    const t = readOptions(target, 'watch target', ['key', 'prefix']);
    if ((t.key === undefined) === (t.prefix === undefined)) {
      throw new InvalidKeyError(`watch needs { key } or { prefix }, got ${describeValue(target)}`);
    }
    const isKey = t.key !== undefined;
    const name = isKey ? t.key : t.prefix;
    // A prefix is '' (every key) or a valid key: a lone surrogate could never match a key.
    if (isKey || name !== '') checkKey(name);
    if (typeof onChange !== 'function') throw new InvalidArgumentError(`watch needs an onChange function, got ${describeValue(onChange)}`);
    const map = isKey ? this.keyWatchers : this.prefixWatchers;
    const w: Watcher = { ticker, onChange, active: true };
    let set = map.get(name as string);
    if (!set) map.set(name as string, (set = new Set()));
    set.add(w);
    return () => {
      w.active = false;
      set.delete(w);
      if (set.size === 0 && map.get(name as string) === set) map.delete(name as string);
    };
  }

  private watchersOf(key: string): Watcher[] | undefined {
    let found: Watcher[] | undefined;
    const exact = this.keyWatchers.get(key);
    if (exact) found = [...exact];
    for (const [prefix, set] of this.prefixWatchers) {
      if (key.startsWith(prefix)) (found ??= []).push(...set);
    }
    return found;
  }

  private notifyWatchers(watchers: Watcher[], change: StoreChange): void {
    for (const w of watchers) {
      w.ticker.notify(() => { if (w.active) w.onChange({ ...change, value: change.value && giveCopy(change.value) }); });
    }
  }

  /** @hidden Not for users (hidden from the API reference but kept in the declarations, as it implements the ticker's host interface). Adds one `tick()`'s time to the pump metrics. */
  tickerTime(ms: number): void {
    this.pumpTotal += ms;
    this.pumpTicks++;
    if (ms > this.pumpMax) this.pumpMax = ms;
  }

  /**
   * Changes any tunable in place (`dir` and `backend` are fixed at open);
   * fields not given keep their current values.
   *
   * @param options The tunables to change (see {@link Tunables}).
   * @returns Resolves once the engine has applied them.
   * @throws {@link InvalidConfigError} (rejects) No options object, an unknown option, `dir` or `backend`, or a value outside its bounds; nothing is changed.
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   *
   * @example
   * ```ts
   * await store.configure({ flushPolicy: { mode: 'grouped', intervalMs: 10 }, memcacheCapacity: 10_000 });
   * ```
   */
  configure(options: Partial<Tunables>): Promise<void> {
    try {
      this.assertOpen();
      // Unlike open's optional tunables, configure's argument is what to change: none given is a mistake.
      if (options === undefined) throw new InvalidConfigError('configure needs an object of the tunables to change, got undefined');
      const fail = (m: string): InvalidConfigError => new InvalidConfigError(m);
      if (options !== null && typeof options === 'object' && guard('store options', fail, () => 'dir' in options || 'backend' in options)) {
        throw new InvalidConfigError('dir and backend are fixed at open');
      }
      const next = checkTunables(options, this.tun);
      // Resize first: it is the one step that could fail, and then nothing has changed.
      if (next.memcacheCapacity !== this.tun.memcacheCapacity || next.memcacheMaxBytes !== this.tun.memcacheMaxBytes) {
        this.cache.resize({ maxEntries: next.memcacheCapacity, maxBytes: next.memcacheMaxBytes });
      }
      this.tun = next;
      return this.backend.configure(engineConfig(next));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The tunables in force (a copy). */
  get options(): Readonly<Tunables> { return { ...this.tun }; }

  /**
   * Compacts both logs now, whatever their thresholds; resolves when done.
   *
   * @throws {@link StoreClosedError} (rejects) The store is closed.
   * @throws {@link StoreIOError} (rejects) A compaction failed (the old log is kept).
   */
  compact(): Promise<void> {
    if (this.closed) return Promise.reject(new StoreClosedError());
    return this.backend.compact();
  }

  /** The store's figures, synchronously (see {@link StoreMetrics}). */
  metrics(): StoreMetrics {
    const e = this.backend.stats();
    return {
      readStoreReads: e.readStoreReads,
      cacheHits: this.hits,
      cacheMisses: this.misses,
      memcacheSize: this.cache.size,
      memcacheBytes: this.cache.bytes,
      writeCount: e.writeKeys,
      readCount: e.readKeys,
      compactions: e.compactions,
      writeLogBytes: e.writeLogBytes,
      writeLogDeadBytes: e.writeLogDeadBytes,
      readLogBytes: e.readLogBytes,
      readLogDeadBytes: e.readLogDeadBytes,
      fsyncs: e.fsyncs,
      opsInFlight: this.backend.inFlight,
      replicaLag: e.replicaLag,
      truncatedBytes: e.truncatedBytes,
      replicaRepaired: e.replicaRepaired,
      replicaRebuilt: e.replicaRebuilt === 1,
      openedFromHint: e.openedFromHint === 1,
      pumpTimeMs: this.pumpTotal,
      pumpTimeMaxMs: this.pumpMax,
      pumpTicks: this.pumpTicks,
      lastCompactionError: e.lastCompactionError,
      unsyncedBytes: e.unsyncedBytes,
      replicaQueueBytes: e.replicaQueueBytes,
      replicaQueueDrops: e.replicaQueueDrops,
      expiredKeys: e.expiredKeys,
      scrub: e.scrub,
      ...(e.tiers ? { tiers: e.tiers } : {}),
    };
  }

  /**
   * Whether the store needs attention (see {@link StoreHealth}): damage the
   * write-log scrub found, a standing fsync failure. Synchronous, as of the
   * engine's latest figures; never throws, open or closed.
   */
  health(): StoreHealth {
    const e = this.backend.stats();
    const problems: StoreHealth['problems'] = [];
    const dead = this.backend.failure;
    if (dead) problems.push({ kind: 'engine-dead', message: dead.message });
    const c = e.scrub.corruption;
    if (e.scrub.state === 'corrupt' && c) problems.push({ kind: 'corruption', message: `${c.file} at offset ${c.offset}: ${c.reason}` });
    if (e.scrub.state === 'failed') problems.push({ kind: 'scrub-failed', message: e.scrub.readError ?? 'a read failed' });
    if (e.flushError) problems.push({ kind: 'flush-error', message: e.flushError.message });
    const t = e.tiers;
    if (t && (t.repairsPending > 0 || t.repairsDropped > 0)) {
      problems.push({ kind: 'backup-behind', message: `${t.repairsPending} keys wait for a backup repair${t.repairsDropped > 0 ? `, ${t.repairsDropped} failures were not tracked (run verifyBackup)` : ''}` });
    }
    return { ok: problems.length === 0, problems, scrub: e.scrub };
  }

  /** Whether {@link Store.close} has been called. */
  get isClosed(): boolean { return this.closed; }

  /**
   * Refuses new ops at once, lets every op already issued finish (results
   * still reach their tickers), then closes the engine and releases the
   * directory. A clean close leaves `index.hint` so that the next open skips
   * scanning the logs. Idempotent: every call returns the same promise.
   *
   * @throws {@link StoreIOError} (rejects) Closing the engine failed.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      const started = performance.now();
      this.closing = this.backend.close().then(() => {
        this.cache.clear();
        if (storeLog.enabled) {
          const e = this.backend.stats();
          storeLog('closed %s in %d ms: writeKeys=%d readKeys=%d', this.dir, msSince(started), e.writeKeys, e.readKeys);
        }
      }, (err: unknown) => {
        storeLog('close %s failed after %d ms: %s', this.dir, msSince(started), describeError(err));
        throw err;
      });
    }
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError();
  }
}

/** How long a shared engine's value may stay cached: the bound on staleness if a change notice is lost unnoticed. */
export const SHARED_CACHE_MAX_AGE_MS = 1000;
/** Keys whose latest remote change is remembered for in-flight GETs (past it, all in-flight GETs skip caching). */
const MAX_REMOTE_TRACKED = 65_536;
/** Keys read per watched prefix when the change feed comes back after a gap (see catchUpWatchers). */
const CATCH_UP_LIMIT = 1000;
/** A catch-up read that fails is retried every CATCH_UP_RETRY_MS, CATCH_UP_ATTEMPTS times at most (~10 s). */
const CATCH_UP_RETRY_MS = 100;
const CATCH_UP_ATTEMPTS = 100;
const DELETE_OPTIONS = ['fence', 'durable'] as const;
const EXPIRY_OPTIONS = ['ttlMs', 'expiresAt'] as const;

/** A batch's options: `fence` and `durable`. */
function checkBatchOptions(o: unknown): WriteFlags {
  return checkWriteOptions(o, DELETE_OPTIONS);
}

/** The engine refused an op at submission (closed, dead): its raised bookkeeping settles as failed, and the typed error propagates. */
function settleRefused(done: WriteDone | WriteDone[], err: unknown): TickstoreError {
  const error = asStoreError(err, 'the engine refused the op');
  if (Array.isArray(done)) for (const d of done) d(error); else done(error);
  return error;
}
