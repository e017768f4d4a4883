/**
 * A complete tickstore engine over a plain in-process `Map`, written only
 * against what the `tickstore` package exports: the proof that the
 * {@link Backend} contract (docs/backend.md) can be implemented from the
 * public surface, and a reference to copy from when writing your own (a
 * backup tier that ships to object storage, an engine over another database).
 *
 * What it is: one process, nothing survives it (permanence false), per-key
 * TTL with a background sweep, leases with fencing, one version counter over
 * all keys (global order). test/conformance/map.test.ts runs the whole
 * conformance suite (`tickstore/testkit`) on it.
 *
 * How it meets the contract, in one paragraph: every op is applied to the
 * map in the call that submits it — this thread is the only one touching
 * the map, so each op is atomic, and a scan or a transaction's read is a
 * consistent snapshot for free — and its reply is queued; a microtask
 * delivers the queued replies in submission order. So `done` never runs
 * inside the call, and a reply never overtakes an earlier one. An engine
 * that does real I/O keeps the same two rules: apply (or send) in
 * submission order, answer in submission order, never synchronously.
 *
 * @example
 * ```ts
 * import { openStore } from 'tickstore';
 * import { mapBackend } from './mapBackend.js';
 *
 * const store = await openStore({ backend: mapBackend() });
 * await store.put('motd', new TextEncoder().encode('hello'));
 * await store.close();
 * ```
 */
// In this repository the package's main entry is src/index.ts; an app imports the same names from 'tickstore'.
import {
  LeaseLostError, StoreClosedError, compareKeys,
  type Backend, type BackendCondition, type BackendFactory, type BackendReply, type BackendStats, type BackendSupports, type EngineConfig,
  type FenceToken, type RemoteChange, type ReplyHandler, type ScanEntry, type ScanSpec, type TickstoreError, type WriteFlags, type WriteOp,
} from '../../src/index.js';

/** One live value: its bytes (the engine's own copy), its version, and its deadline (ms since the epoch) if it expires. */
interface Entry { value: Uint8Array; version: number; expiresAt: number | undefined }

/** One lease: the token of its current holder and when it lapses. */
interface Held { token: number; expiresAt: number }

/** How often expired keys are swept out of the map (and reported through onExpired): watchers hear "expire" within about this. */
const SWEEP_INTERVAL_MS = 200;

/** What this engine promises; the conformance suite runs the rule groups these claim. */
const SUPPORTS: BackendSupports = Object.freeze({
  permanence: false, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: true,
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The Backend itself. Arguments arrive validated by the store facade: nothing here checks them again. */
class MapBackend implements Backend {
  readonly supports = SUPPORTS;
  private readonly data = new Map<string, Entry>();
  private readonly leases = new Map<string, Held>();
  /** The last version handed out: one counter over all keys, never reused, so a deleted and re-created key never gets an old version back (no ABA). */
  private lastVersion = 0;
  /** The last lease token: every grant gets a larger one. */
  private lastToken = 0;
  /** Replies waiting for the microtask that delivers them, in submission order. */
  private readonly replies: { done: ReplyHandler; reply: BackendReply; error: TickstoreError | undefined }[] = [];
  private draining = false;
  private closed = false;
  private expiredHandler: (keys: readonly string[]) => void = () => undefined;
  private readonly sweeper: NodeJS.Timeout;
  private readStoreReads = 0;
  private expiredKeys = 0;

  constructor() {
    // unref: an open store must not keep the process alive by itself.
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();
  }

  // --- reads -----------------------------------------------------------------------------------

  get(key: string, done: ReplyHandler): void {
    this.assertOpen();
    this.readStoreReads++;
    const e = this.live(key);
    // The value is the engine's own array: the facade copies it before it returns (a handler may not keep a reply's views).
    // stale marks it uncacheable: a value with a deadline must not outlive it in the facade's memcache.
    this.answer(done, e ? { found: true, value: e.value, stale: e.expiresAt !== undefined } : { found: false });
  }

  exists(key: string, done: ReplyHandler): void {
    this.assertOpen();
    const e = this.live(key);
    this.answer(done, e ? { found: true, version: e.version } : { found: false });
  }

  scan(spec: ScanSpec, done: ReplyHandler): void {
    this.assertOpen();
    const { prefix, gt, gte, lt, lte, limit, reverse } = spec;
    const now = Date.now();
    const keys: string[] = [];
    for (const [key, e] of this.data) {
      if (expired(e, now)) continue;
      if (prefix !== undefined && !key.startsWith(prefix)) continue; // a string prefix is a UTF-8 byte prefix for well-formed keys
      if (gt !== undefined && compareKeys(key, gt) <= 0) continue;
      if (gte !== undefined && compareKeys(key, gte) < 0) continue;
      if (lt !== undefined && compareKeys(key, lt) >= 0) continue;
      if (lte !== undefined && compareKeys(key, lte) > 0) continue;
      keys.push(key);
    }
    keys.sort(reverse ? (a, b) => compareKeys(b, a) : compareKeys);
    const entries: ScanEntry[] = keys.slice(0, limit).map((key) => ({ key, value: this.data.get(key)!.value }));
    // found: more entries follow this page (the facade then hands out a cursor).
    this.answer(done, { found: keys.length > limit, entries });
  }

  // --- writes ----------------------------------------------------------------------------------

  put(key: string, value: Uint8Array, flags: WriteFlags, done: ReplyHandler): void {
    this.assertOpen();
    if (!this.admitted(flags.fence, done)) return;
    this.write(key, value, flags.deadline);
    this.answer(done, { found: true });
  }

  delete(key: string, flags: WriteFlags, done: ReplyHandler): void {
    this.assertOpen();
    if (!this.admitted(flags.fence, done)) return;
    const existed = this.live(key) !== undefined;
    this.data.delete(key);
    this.answer(done, { found: existed });
  }

  putIf(key: string, value: Uint8Array, condition: BackendCondition, flags: WriteFlags, done: ReplyHandler): void {
    this.assertOpen();
    if (!this.admitted(flags.fence, done)) return;
    const e = this.live(key);
    if (!holds(condition, e)) { this.answer(done, { found: false, version: e?.version }); return; }
    const version = this.write(key, value, flags.deadline);
    this.answer(done, { found: true, version });
  }

  batch(ops: readonly WriteOp[], flags: WriteFlags, done: ReplyHandler): void {
    this.assertOpen();
    if (!this.admitted(flags.fence, done)) return;
    this.apply(ops);
    this.answer(done, { found: true });
  }

  // --- transactions ----------------------------------------------------------------------------

  txRead(key: string, reads: ReadonlyMap<string, number>, done: ReplyHandler): void {
    this.assertOpen();
    // A key read earlier in the attempt has changed since: the attempt saw no single state; the facade reruns it.
    if (!this.current(reads)) { this.answer(done, { found: false, stale: true }); return; }
    const e = this.live(key);
    this.answer(done, e ? { found: true, value: e.value, version: e.version } : { found: false, version: 0 });
  }

  txCommit(reads: ReadonlyMap<string, number>, ops: readonly WriteOp[], done: ReplyHandler): void {
    this.assertOpen();
    // Checked and applied in one step: nothing can commit in between on this thread.
    if (!this.current(reads)) { this.answer(done, { found: false }); return; }
    this.apply(ops);
    this.answer(done, { found: true });
  }

  // --- durability ------------------------------------------------------------------------------

  flush(done: ReplyHandler): void {
    // Nothing is ever made durable here (permanence false): every write before this is as durable as it will get.
    this.assertOpen();
    this.answer(done, { found: true });
  }

  // --- leases ----------------------------------------------------------------------------------

  leaseAcquire(scope: string, ttlMs: number, done: ReplyHandler): void {
    this.assertOpen();
    const now = Date.now();
    const h = this.leases.get(scope);
    if (h && h.expiresAt > now) { this.answer(done, { found: false, expiresAt: h.expiresAt }); return; }
    const lease = { token: ++this.lastToken, expiresAt: now + ttlMs };
    this.leases.set(scope, lease);
    this.answer(done, { found: true, version: lease.token, expiresAt: lease.expiresAt });
  }

  leaseRenew(scope: string, token: number, ttlMs: number, done: ReplyHandler): void {
    this.assertOpen();
    const h = this.held(scope, token);
    if (!h) { this.answer(done, { found: false }); return; }
    h.expiresAt = Date.now() + ttlMs;
    this.answer(done, { found: true, version: token, expiresAt: h.expiresAt });
  }

  leaseRelease(scope: string, token: number, done: ReplyHandler): void {
    this.assertOpen();
    const h = this.held(scope, token);
    if (h) this.leases.delete(scope);
    this.answer(done, { found: h !== undefined });
  }

  // --- the rest of the seam --------------------------------------------------------------------

  configure(_config: EngineConfig): Promise<void> {
    return Promise.resolve(); // no tunable applies to a map (sync mode, compaction, flush policy are disk notions)
  }

  compact(): Promise<void> {
    return Promise.resolve(); // nothing to compact
  }

  stats(): BackendStats {
    const live = this.data.size;
    return {
      writeLogBytes: 0, writeLogDeadBytes: 0, readLogBytes: 0, readLogDeadBytes: 0, writeKeys: live, readKeys: live,
      readStoreReads: this.readStoreReads, fsyncs: 0, compactions: 0, replicaLag: 0, replicaQueueBytes: 0, replicaQueueDrops: 0,
      truncatedBytes: 0, replicaRepaired: 0, replicaRebuilt: 0, openedFromHint: 0, lastCompactionError: undefined, flushError: undefined,
      unsyncedBytes: 0, scrub: { state: 'idle', checkedBytes: 0, totalBytes: 0 }, expiredKeys: this.expiredKeys,
    };
  }

  get inFlight(): number { return this.replies.length; }

  /** Never set: nothing here can die on its own. An engine with a thread or a connection sets it once that is gone for good. */
  get failure(): TickstoreError | undefined { return undefined; }

  onExpired(handler: (keys: readonly string[]) => void): void { this.expiredHandler = handler; }

  onRemoteChange(_handler: (change: RemoteChange) => void): void {
    // Not shared across processes: no other process commits changes to this map, so there is nothing to announce.
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    // Every op submitted before close is answered before close resolves.
    while (this.replies.length > 0) await new Promise<void>((r) => setImmediate(r));
    this.data.clear();
    this.leases.clear();
  }

  // --- internals -------------------------------------------------------------------------------

  /** Refuses an op once closed (a typed error thrown at the call; nothing is queued). The facade refuses first; this guards direct use. */
  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError('the map backend is closed');
  }

  /** Queues `done`'s answer; the microtask that drains the queue delivers every queued answer in order. */
  private answer(done: ReplyHandler, reply: BackendReply, error?: TickstoreError): void {
    this.replies.push({ done, reply, error });
    if (this.draining) return;
    this.draining = true;
    queueMicrotask(() => this.drain());
  }

  private drain(): void {
    let failure: unknown;
    // Answers queued by a handler (it may submit more ops) are delivered in the same pass, after the ones before them.
    for (let r = this.replies.shift(); r; r = this.replies.shift()) {
      try { r.done(r.reply, r.error); } catch (err) { failure ??= err; } // one throwing handler must not cost the others their answers
    }
    this.draining = false;
    if (failure !== undefined) queueMicrotask(() => { throw failure; });
  }

  /** A fenced write whose lease is no longer its scope's current one is refused with LeaseLostError, in its turn, and writes nothing. */
  private admitted(fence: FenceToken | undefined, done: ReplyHandler): boolean {
    if (!fence || this.held(fence.scope, fence.token)) return true;
    this.answer(done, { found: false }, new LeaseLostError(fence.scope));
    return false;
  }

  private held(scope: string, token: number): Held | undefined {
    const h = this.leases.get(scope);
    return h && h.token === token && h.expiresAt > Date.now() ? h : undefined;
  }

  /** The key's entry, unless it is absent or its deadline passed (an expired key reads as absent at once, swept or not). */
  private live(key: string): Entry | undefined {
    const e = this.data.get(key);
    return e && !expired(e, Date.now()) ? e : undefined;
  }

  /** Whether every version in `reads` (key → version read, 0: absent) is still the key's current one. */
  private current(reads: ReadonlyMap<string, number>): boolean {
    for (const [key, version] of reads) if ((this.live(key)?.version ?? 0) !== version) return false;
    return true;
  }

  /** Stores a copy of `value` (the caller may reuse its array once the call returns) under a new version. */
  private write(key: string, value: Uint8Array, deadline: number | undefined): number {
    const version = ++this.lastVersion;
    this.data.set(key, { value: value.slice(), version, expiresAt: deadline });
    return version;
  }

  private apply(ops: readonly WriteOp[]): void {
    for (const op of ops) {
      if (op.type === 'put') this.write(op.key, op.value, op.expiresAt);
      else this.data.delete(op.key);
    }
  }

  /** Drops keys whose deadline passed and tells the facade (it tells their watchers, with op "expire"). */
  private sweep(): void {
    const now = Date.now();
    const gone: string[] = [];
    for (const [key, e] of this.data) if (expired(e, now)) { this.data.delete(key); gone.push(key); }
    for (const [scope, h] of this.leases) if (h.expiresAt <= now) this.leases.delete(scope);
    if (gone.length === 0) return;
    this.expiredKeys += gone.length;
    this.expiredHandler(gone);
  }
}

function expired(e: Entry, now: number): boolean {
  return e.expiresAt !== undefined && e.expiresAt <= now;
}

/** Whether a conditional put's condition holds for the key's live entry (undefined: absent or expired). */
function holds(condition: BackendCondition, e: Entry | undefined): boolean {
  if ('absent' in condition) return e === undefined;
  if ('version' in condition) return e !== undefined && e.version === condition.version;
  return condition.value === undefined ? e === undefined : e !== undefined && sameBytes(e.value, condition.value);
}

/**
 * An engine over an in-process Map, for `openStore({ backend: mapBackend() })`:
 * each store opened from it gets its own empty map, gone when the store
 * closes. TTL, leases with fencing, batches, conditional writes,
 * transactions and ordered scans, as every engine has them.
 *
 * @returns The factory; `open` never rejects.
 * @throws Never.
 * @example
 * ```ts
 * const store = await openStore({ backend: mapBackend() });
 * ```
 */
export function mapBackend(): BackendFactory {
  return Object.freeze({ kind: 'map', open: () => Promise.resolve<Backend>(new MapBackend()) } satisfies BackendFactory);
}
