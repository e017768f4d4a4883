import type { Backend, ReplyHandler } from './backend.js';
import { checkTunables, engineConfig, type Tunables } from './config.js';
import {
  InvalidConfigError, InvalidKeyError, StoreClosedError, TickstoreError, TransactionAbortedError, TransactionConflictError, fromErrorShape,
} from './errors.js';
import { Transaction, TxRetry } from './transaction.js';
import { Op, type OpCode, type Reply } from './engine/wire.js';
import {
  checkBatch, checkConditional, checkKey, checkScan, checkValue, checkVersion, checkWriteOptions, encodeBatch, encodeCondition, encodeCursor,
  encodeTx, type BatchOp, type Condition, type ExpiryOptions,
} from './input.js';
import { decodePage, type ScanSpec } from './engine/scan.js';
import { Memcache } from './memcache.js';
import { giveCopy, keepCopy } from './bytes.js';
import {
  Ticker, type OpName, type ResultSink, type ScanOptions, type StoreChange, type StoreResult, type TickerHost, type TickerOptions,
  type WatchTarget, type WriteOptions,
} from './ticker.js';

interface Watcher { ticker: Ticker; onChange: (change: StoreChange) => void; active: boolean }

/** Everything `metrics()` reports. Engine figures are as of the latest reply from the engine. */
export interface StoreMetrics {
  /** Reads the read store served (memcache misses that reached disk). */
  readStoreReads: number;
  cacheHits: number;
  cacheMisses: number;
  /** Memcache entries, and bytes of values. */
  memcacheSize: number;
  memcacheBytes: number;
  /** Live keys in the write store and in the read store. */
  writeCount: number;
  readCount: number;
  compactions: number;
  writeLogBytes: number;
  writeLogDeadBytes: number;
  readLogBytes: number;
  readLogDeadBytes: number;
  fsyncs: number;
  /** Ops handed to the engine and not yet answered. */
  opsInFlight: number;
  /** Committed writes the replica has not mirrored yet (async-batch, or after a failed replica append). */
  replicaLag: number;
  /** Bytes truncated from the write log's end at open: a torn tail and/or the zeros written ahead of it (unclean exit). */
  truncatedBytes: number;
  /** Replica entries repaired at open, and whether it had to be rebuilt. */
  replicaRepaired: number;
  replicaRebuilt: boolean;
  /** Open read both logs' indexes from the hint file a clean close left, instead of scanning the logs. */
  openedFromHint: boolean;
  /** Time spent delivering results in tickers' `tick()`: total, worst single tick, ticks counted. */
  pumpTimeMs: number;
  pumpTimeMaxMs: number;
  pumpTicks: number;
  lastCompactionError: string | undefined;
  /** Acknowledged bytes not yet fsync'd (grouped flush policy). */
  unsyncedBytes: number;
}

const OP_CODE: Record<'put' | 'delete', OpCode> = { put: Op.Put, delete: Op.Delete };

/** Runs when a write's answer (or refusal) is known: settles its memcache and watch bookkeeping. */
type WriteDone = (error: TickstoreError | undefined, applied?: boolean) => void;

/** What a transaction commit carries: the versions it read (0: absent) and its writes. */
interface TxCommit { reads: Map<string, number>; ops: BatchOp[] }

/**
 * The store facade: validation, handles, the memcache and metrics, over a
 * Backend that does the real work elsewhere. Everything here runs on the
 * main thread and never blocks.
 */
export class Store implements TickerHost {
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
  private readonly prefixWatchers = new Map<string, Set<Watcher>>();

  /** @internal Use `openStore`. */
  constructor(private readonly backend: Backend, tunables: Tunables) {
    this.tun = tunables;
    this.cache = new Memcache({ maxEntries: tunables.memcacheCapacity, maxBytes: tunables.memcacheMaxBytes });
  }

  /** A new ticker: one per owner (a room); its results surface only in its own `tick()`. */
  ticker(options?: TickerOptions): Ticker {
    this.assertOpen();
    return new Ticker(this, options);
  }

  /** Reads `key`: its bytes, or undefined when absent. */
  get(key: string, options?: { cacheOnRead?: boolean }): Promise<Uint8Array | undefined> {
    return this.promised('get', key, undefined, options?.cacheOnRead ?? true, (r) => r.value);
  }

  /**
   * Writes `key`; resolves once the write is acknowledged — fsync'd under the
   * immediate flush policy, written to the log under the grouped one (or
   * fsync'd with `durable`). With `ttlMs` or `expiresAt` the value expires:
   * from then on the key reads as absent, and compaction removes it.
   */
  put(key: string, value: Uint8Array, options?: WriteOptions): Promise<void> {
    return this.promised('put', key, value, false, () => undefined, options);
  }

  /**
   * Writes `key` and fsyncs it — with every write issued before it — before
   * resolving, whatever the flush policy (`put` with `durable: true`).
   */
  writeDurable(key: string, value: Uint8Array, options?: ExpiryOptions): Promise<void> {
    return this.promised('put', key, value, false, () => undefined, { ...options, durable: true });
  }

  /**
   * Resolves once every write issued before it is durable (fsync'd). Rejects
   * — never hangs — if that cannot be done: the error is then `flushError`.
   */
  flush(): Promise<void> {
    return this.promised('flush', '', undefined, false, () => undefined);
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

  /** Deletes `key` durably; resolves to whether it existed. */
  delete(key: string): Promise<boolean> {
    return this.promised('delete', key, undefined, false, (r) => r.found);
  }

  /** Applies puts and deletes atomically: all of them, or (on error, or across a crash) none. */
  batch(ops: BatchOp[]): Promise<void> {
    return this.promised('batch', '', ops, false, () => undefined);
  }

  /** Writes `value` only if `key` is absent (or expired); resolves to whether it did. It may expire in turn. */
  putIfAbsent(key: string, value: Uint8Array, options?: WriteOptions): Promise<boolean> {
    return this.promised('putIf', key, { value, condition: { absent: true } }, false, (r) => r.applied === true, options);
  }

  /** Writes `next` only if `key` holds exactly `expected` (undefined: absent); resolves to whether it did. */
  compareAndSwap(key: string, expected: Uint8Array | undefined, next: Uint8Array): Promise<boolean> {
    return this.promised('putIf', key, { value: next, condition: { value: expected } }, false, (r) => r.applied === true);
  }

  /** Writes `value` only if `key` is at version `ifVersion` (from `version()` or an earlier write). */
  putVersioned(key: string, value: Uint8Array, ifVersion: number): Promise<{ applied: boolean; version: number | undefined }> {
    return this.promised('putIf', key, { value, condition: { version: checkVersion(ifVersion) } }, false,
      (r) => ({ applied: r.applied === true, version: r.version }));
  }

  /** The key's current version (its last write's sequence number), or undefined when absent. */
  version(key: string): Promise<number | undefined> {
    return this.promised('exists', key, undefined, false, (r) => r.version);
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
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options: { retries?: number } = {}): Promise<T> {
    this.assertOpen();
    const retries = options.retries ?? 16;
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

  /** @internal A ticker's transaction: runs it, and hands its outcome to `sink` as a result. */
  runTransaction(fn: (tx: Transaction) => unknown, options: { retries?: number } | undefined, sink: ResultSink): number {
    this.assertOpen();
    const handle = ++this.nextHandle;
    const base = { handle, op: 'tx' as const, fromCache: false };
    this.transaction(fn, options).then(
      (txResult) => sink.deliver({ ...base, ok: true, found: true, applied: true, txResult }),
      (err: unknown) => {
        if (err instanceof TransactionConflictError) sink.deliver({ ...base, ok: true, found: false, applied: false });
        else sink.deliver({ ...base, ok: false, found: false, error: err instanceof TickstoreError ? err : new TransactionAbortedError(err) });
      });
    return handle;
  }

  /** Commits `writes` if every version in `reads` is still current; resolves to whether it did. */
  private commitTx(tx: TxCommit): Promise<boolean> {
    return this.promised('tx', '', tx, false, (r) => r.applied === true);
  }

  /** @internal A transaction's read: the value and its version (0: absent), from the source of truth in one step. */
  readVersioned(key: string, reads: Map<string, number>): Promise<{ value: Uint8Array | undefined; version: number }> {
    try {
      const keyLen = checkKey(key);
      this.assertOpen();
      return new Promise((resolve, reject) => {
        this.backend.submit(Op.TxRead, key, keyLen, encodeTx(reads, []), (reply, error) => {
          if (error) { reject(error); return; }
          if (reply.stale) { reject(new TxRetry()); return; }
          const v = reply.value!;
          resolve({ version: readVersion(v.subarray(0, 8)) ?? 0, value: reply.found ? giveCopy(v.subarray(8)) : undefined });
        });
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Whether `key` has a value (none is read). */
  exists(key: string): Promise<boolean> {
    return this.promised('exists', key, undefined, false, (r) => r.found);
  }

  /** One page of an ordered scan; pass `cursor` back for the next page. */
  scan(options: ScanOptions = {}): Promise<{ entries: { key: string; value: Uint8Array }[]; cursor: string | undefined }> {
    return this.promised('scan', '', options, false, (r) => ({ entries: r.entries ?? [], cursor: r.cursor }));
  }

  private promised<T>(op: OpName, key: unknown, value: unknown, cacheOnRead: boolean, pick: (r: StoreResult) => T, options?: unknown): Promise<T> {
    try {
      return new Promise<T>((resolve, reject) => {
        this.issue(op, key, value, cacheOnRead, {
          deliver: (r) => (r.ok ? resolve(pick(r)) : reject(r.error)),
        }, options);
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** @internal The one path every op takes (tickers and promises). Throws typed errors for bad input. */
  issue(op: OpName, key: unknown, value: unknown, cacheOnRead: boolean, sink: ResultSink, options?: unknown): number {
    this.assertOpen();
    if (op === 'flush') {
      const handle = ++this.nextHandle;
      this.backend.submit(Op.Flush, '', 0, undefined, (_reply, error) => {
        sink.deliver(error
          ? { handle, op, ok: false, found: false, fromCache: false, error }
          : { handle, op, ok: true, found: true, fromCache: false });
      });
      return handle;
    }
    if (op === 'batch') {
      const ops = checkBatch(value);
      const handle = ++this.nextHandle;
      this.startBatch(handle, ops, sink);
      return handle;
    }
    if (op === 'tx') {
      const tx = value as TxCommit;
      const handle = ++this.nextHandle;
      this.startTx(handle, tx, sink);
      return handle;
    }
    if (op === 'putIf') {
      const keyLen = checkKey(key);
      const { value: v, condition } = checkConditional(value);
      const write = checkWriteOptions(options);
      const handle = ++this.nextHandle;
      this.startPutIf(handle, key as string, keyLen, v, condition, sink, write);
      return handle;
    }
    if (op === 'scan') {
      const spec = checkScan(value);
      const handle = ++this.nextHandle;
      this.startScan(handle, spec, sink);
      return handle;
    }
    const keyLen = checkKey(key);
    const k = key as string;
    const bytes = op === 'put' ? checkValue(value) : undefined;
    const write = checkWriteOptions(op === 'put' ? options : undefined);
    const handle = ++this.nextHandle;
    if (op === 'get' || op === 'exists') {
      this.startGet(handle, op, k, keyLen, cacheOnRead, sink);
    } else {
      this.startWrite(handle, op as 'put' | 'delete', k, keyLen, bytes, sink, write);
    }
    return handle;
  }

  private startScan(handle: number, spec: ScanSpec, sink: ResultSink): void {
    const json = new TextEncoder().encode(JSON.stringify(spec));
    this.backend.submit(Op.Scan, '', 0, json, (reply, error) => {
      if (error) {
        sink.deliver({ handle, op: 'scan', ok: false, found: false, fromCache: false, error });
        return;
      }
      const entries = decodePage(reply.value!);
      const last = entries[entries.length - 1];
      const cursor = reply.found && last ? encodeCursor(last.key, spec.reverse) : undefined;
      sink.deliver({ handle, op: 'scan', ok: true, found: entries.length > 0, fromCache: false, entries, cursor });
    });
  }

  private startGet(handle: number, op: 'get' | 'exists', key: string, keyLen: number, cacheOnRead: boolean, sink: ResultSink): void {
    // EXISTS answers versions too, which the memcache does not hold.
    if (op === 'get' && !this.pendingWrites.has(key)) {
      const hit = this.cache.get(key);
      if (hit) {
        this.hits++;
        sink.deliver(op === 'get'
          ? { handle, op, ok: true, found: true, fromCache: true, value: giveCopy(hit) }
          : { handle, op, ok: true, found: true, fromCache: true });
        return;
      }
    }
    this.misses++;
    if (op === 'exists') {
      this.backend.submit(Op.Exists, key, keyLen, undefined, (reply, error) => {
        if (error) { sink.deliver({ handle, op, ok: false, found: false, fromCache: false, error }); return; }
        const v = readVersion(reply.value);
        sink.deliver({ handle, op, ok: true, found: reply.found, fromCache: false, ...(v ? { version: v } : {}) });
      });
      return;
    }
    this.backend.submit(Op.Get, key, keyLen, undefined, (reply, error) => {
      if (error) {
        sink.deliver({ handle, op: 'get', ok: false, found: false, fromCache: false, error });
        return;
      }
      const value = reply.found ? giveCopy(reply.value!) : undefined;
      // Never cache a value a newer write (in flight, or not yet mirrored) supersedes.
      if (value && cacheOnRead && !reply.stale && !this.pendingWrites.has(key)) this.cache.set(key, keepCopy(value));
      sink.deliver({ handle, op: 'get', ok: true, found: reply.found, fromCache: false, value });
    });
  }

  private startWrite(handle: number, op: 'put' | 'delete', key: string, keyLen: number, value: Uint8Array | undefined, sink: ResultSink,
    write: { deadline: number | undefined; durable: boolean }): void {
    const done = this.beginWrite(op, key, value, write.deadline);
    this.submitWrite([done], OP_CODE[op], key, keyLen, value, (reply: Reply, error: TickstoreError | undefined) => {
      done(error);
      sink.deliver(error
        ? { handle, op, ok: false, found: false, fromCache: false, error }
        : { handle, op, ok: true, found: reply.found, fromCache: false });
    }, write.durable, write.deadline);
  }

  private startPutIf(handle: number, key: string, keyLen: number, value: Uint8Array, condition: Condition, sink: ResultSink,
    write: { deadline: number | undefined; durable: boolean }): void {
    const done = this.beginWrite('put', key, value, write.deadline);
    this.submitWrite([done], Op.CondPut, key, keyLen, encodeCondition(condition, value), (reply: Reply, error: TickstoreError | undefined) => {
      done(error, reply.found);
      if (error) { sink.deliver({ handle, op: 'putIf', ok: false, found: false, fromCache: false, error }); return; }
      const v = readVersion(reply.value);
      sink.deliver({ handle, op: 'putIf', ok: true, found: true, fromCache: false, applied: reply.found, ...(v ? { version: v } : {}) });
    }, write.durable, write.deadline);
  }

  private startTx(handle: number, tx: TxCommit, sink: ResultSink): void {
    const ops = tx.ops;
    const done = ops.map((o) => this.beginWrite(o.type, o.key, o.type === 'put' ? o.value : undefined, o.type === 'put' ? o.expiresAt : undefined));
    this.submitWrite(done, Op.TxCommit, '', 0, encodeTx(tx.reads, ops), (reply: Reply, error: TickstoreError | undefined) => {
      for (const d of done) d(error, reply.found);
      sink.deliver(error
        ? { handle, op: 'tx', ok: false, found: false, fromCache: false, error }
        : { handle, op: 'tx', ok: true, found: true, fromCache: false, applied: reply.found });
    });
  }

  /** Submits a write op; if the engine refuses it outright (closed or dead), its bookkeeping is undone before the throw. */
  private submitWrite(done: WriteDone[], op: OpCode, key: string, keyLen: number, value: Uint8Array | undefined, handler: ReplyHandler,
    durable?: boolean, deadline?: number): void {
    try {
      this.backend.submit(op, key, keyLen, value, handler, durable, deadline);
    } catch (err) {
      for (const d of done) d(err instanceof TickstoreError ? err : new StoreClosedError());
      throw err;
    }
  }

  private startBatch(handle: number, ops: BatchOp[], sink: ResultSink): void {
    const done = ops.map((o) => this.beginWrite(o.type, o.key, o.type === 'put' ? o.value : undefined, o.type === 'put' ? o.expiresAt : undefined));
    this.submitWrite(done, Op.Batch, '', 0, encodeBatch(ops), (_reply: Reply, error: TickstoreError | undefined) => {
      for (const d of done) d(error);
      sink.deliver(error
        ? { handle, op: 'batch', ok: false, found: false, fromCache: false, error }
        : { handle, op: 'batch', ok: true, found: true, fromCache: false });
    });
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

  /** @internal Registers a ticker's watch; returns the function that removes it. */
  watch(ticker: Ticker, target: WatchTarget, onChange: (change: StoreChange) => void): () => void {
    this.assertOpen();
    const isKey = typeof target === 'object' && target !== null && 'key' in target;
    const name: unknown = isKey ? (target as { key: unknown }).key : (target as { prefix?: unknown } | null)?.prefix;
    if (isKey) checkKey(name);
    else if (typeof name !== 'string') throw new InvalidKeyError('watch needs { key } or { prefix } with a string');
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

  /** @internal */
  tickerTime(ms: number): void {
    this.pumpTotal += ms;
    this.pumpTicks++;
    if (ms > this.pumpMax) this.pumpMax = ms;
  }

  /** Changes any option but `dir`, in place. Invalid values throw InvalidConfigError and change nothing. */
  configure(options: Partial<Tunables>): Promise<void> {
    this.assertOpen();
    if (options !== null && typeof options === 'object' && ('dir' in options || 'backend' in options)) {
      throw new InvalidConfigError('dir and backend are fixed at open');
    }
    const next = checkTunables(options, this.tun);
    const resized = next.memcacheCapacity !== this.tun.memcacheCapacity || next.memcacheMaxBytes !== this.tun.memcacheMaxBytes;
    this.tun = next;
    if (resized) this.cache.resize({ maxEntries: next.memcacheCapacity, maxBytes: next.memcacheMaxBytes });
    return this.backend.configure(engineConfig(next));
  }

  /** The options in force. */
  get options(): Readonly<Tunables> { return { ...this.tun }; }

  /** Compacts both logs now, whatever their thresholds. */
  compact(): Promise<void> {
    this.assertOpen();
    return this.backend.compact();
  }

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
    };
  }

  get isClosed(): boolean { return this.closed; }

  /**
   * Refuses new ops at once, lets every op already issued finish (results
   * still reach their tickers), then closes the engine and releases the
   * directory. Idempotent.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.closing = this.backend.close().then(() => this.cache.clear());
    }
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError();
  }
}

function readVersion(b: Uint8Array | undefined): number | undefined {
  if (!b || b.length !== 8) return undefined;
  const v = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  return v > 0 ? v : undefined;
}
