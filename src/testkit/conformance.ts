/**
 * The conformance suite: every documented rule of tickstore's public API
 * (src/store.ts, src/ticker.ts, src/transaction.ts, README.md's "Every
 * operation" table), registered as mocha `describe` blocks against one
 * engine — the abstract-level way: one suite, every engine runs it. It ships
 * as `tickstore/testkit`, so an engine written outside this repository (see
 * docs/backend.md) is held to the same rules as the built-in ones.
 *
 * A target is one mocha test file (in this repository
 * `test/conformance/<engine>.test.ts`), run by mocha: the suite imports
 * `describe`/`it`/hooks from 'mocha' and `expect` from 'chai' (optional peer
 * dependencies of tickstore, needed only by the kit):
 *
 * ```ts
 * import { openStore } from 'tickstore';
 * import { conformance } from 'tickstore/testkit';
 *
 * conformance({
 *   name: 'my-engine',
 *   supports: { permanence: true, ttl: true, sharedAcrossProcesses: true, fencing: true, globalOrder: false },
 *   open: () => openStore({ backend: myBackend({ url, prefix: freshPrefix() }) }),   // a fresh EMPTY store
 *   reopen: async (store) => { await store.close(); return openStore({ … the same prefix … }); },
 *   peer: (store) => openStore({ … the same prefix … }),   // a second store on the same data, the first still open
 *   before: () => startServer(), after: () => stopServer(),
 * });
 * ```
 *
 * What a target provides (see {@link ConformanceTarget}):
 * - `open()`: a fresh, EMPTY store, isolated from every other test (a new
 *   directory, a new name, a new key prefix). The suite closes every store it
 *   opened (also the reopened and peer ones) after each test.
 * - `reopen(store)`: close `store` and open the same data again. Required
 *   when `supports.permanence`.
 * - `peer(store)`: open a second store on the same data while `store` stays
 *   open. Required when `supports.sharedAcrossProcesses` (the data is shared:
 *   the peer sees every write); when not shared, the suite checks the peer
 *   open is refused with StoreLockedError and the first store is unharmed
 *   (leave it out if the engine has no such notion).
 * - `variants`: engine configurations (tunables applied with
 *   `store.configure`) under which the result-rule group runs again, each with
 *   an optional `settle(store)` that waits until reads see every acknowledged
 *   write (e.g. the disk engine's async-batch replica). Default: one variant,
 *   the store as opened.
 * - `before` / `after`: run once around the target's tests (start and stop a
 *   server).
 *
 * The manifest (`supports`) decides which rule groups run:
 * - `permanence`: a reopen keeps every acknowledged write, every version, and
 *   versions keep increasing after it; with `ttl`, deadlines survive it.
 *   The memory backend declares it true: its data lives for the process under
 *   its name, so a reopen of the same name in the same process sees it (it is
 *   gone when the process ends — the suite cannot see past that).
 * - `ttl`: the expiry rules (absent after the deadline everywhere, never
 *   cached, cleared by a plain put, swept with an `expire` change).
 * - `globalOrder`: versions increase across different keys in commit order.
 *   Without it versions are only per key — still strictly increasing, across
 *   a delete and re-create of the key too (no ABA).
 * - `sharedAcrossProcesses`: see `peer`.
 * - `fencing`: leases (`store.lease(scope, { ttlMs })`, writes with
 *   `{ fence: lease }` failing with LeaseLostError once the lease is lost).
 *   The group is pending (skipped, visibly) until the store has `lease`.
 *
 * Everything here goes through the public API only (`tickstore`'s main entry); engine
 * specifics — files, recovery, compaction, fsync counts, fault injection —
 * stay in the engine's own test files.
 */
import { expect } from 'chai';
import { after, afterEach, before, beforeEach, describe, it, type Context } from 'mocha';
import {
  InvalidArgumentError, InvalidKeyError, InvalidValueError, MAX_KEY_BYTES, MAX_VALUE_BYTES, StoreClosedError, StoreLockedError,
  TickstoreError, TransactionAbortedError, TransactionConflictError, buildKey, keyPrefix,
  type Store, type StoreChange, type StoreResult, type Transaction, type Tunables, type WriteOptions, type WritePolicy,
} from '../index.js';
import { bytes, sleep, text, tickFor, waitFor } from './helpers.js';

/** What an engine declares it supports: decides which rule groups run. */
export interface ConformanceSupports {
  /** A reopen (see {@link ConformanceTarget.reopen}) keeps every acknowledged write. */
  permanence: boolean;
  /** Keys expire (`ttlMs`, `expiresAt`). */
  ttl: boolean;
  /** Several stores (processes) share one data set (see {@link ConformanceTarget.peer}). */
  sharedAcrossProcesses: boolean;
  /** Leases fence writes (`store.lease`, `{ fence: lease }`). */
  fencing: boolean;
  /** Versions increase across different keys in commit order (one global counter), not only per key. */
  globalOrder: boolean;
}

/** An engine configuration the result rules run under again (see {@link ConformanceTarget.variants}). */
export interface ConformanceVariant {
  name: string;
  /** Applied with `store.configure` right after `open()`. */
  tunables?: Partial<Tunables>;
  /** Resolves once reads see every acknowledged write (default: at once). */
  settle?(store: Store): Promise<void>;
}

/** One engine under test (see the top of this file). */
export interface ConformanceTarget {
  name: string;
  supports: ConformanceSupports;
  /** A fresh, EMPTY store, isolated from every other test. */
  open(): Promise<Store>;
  /** Closes `store` and opens the same data again (required with `supports.permanence`). */
  reopen?(store: Store): Promise<Store>;
  /** Opens a second store on the same data while `store` stays open (required with `supports.sharedAcrossProcesses`). */
  peer?(store: Store): Promise<Store>;
  /** Configurations the result rules run under again (default: the store as opened). */
  variants?: ConformanceVariant[];
  /** Once before the target's tests (e.g. start a server). */
  before?(this: Context): Promise<void> | void;
  /** Once after them (e.g. stop it). */
  after?(): Promise<void> | void;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Keys sorted the way every engine must order them: by their UTF-8 bytes. */
const byUtf8 = (keys: readonly string[]): string[] => [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
const keysOf = (page: { entries: { key: string }[] }): string[] => page.entries.map((e) => e.key);

/** A promise form must reject (never throw at the call) with `cls`. */
async function rejects(call: () => Promise<unknown>, cls: ErrorClass, what: string): Promise<unknown> {
  let promise: Promise<unknown>;
  try { promise = call(); } catch (err) { throw new Error(`${what}: the promise form threw at the call (${String(err)}) instead of rejecting`); }
  let caught: unknown;
  try { await promise; } catch (err) { caught = err; }
  expect(caught, what).to.be.instanceOf(cls);
  return caught;
}

/** Every key and value of a store, through full scans (paging). */
async function dump(store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor: string | undefined;
  do {
    const page = await store.scan({ limit: 10_000, ...(cursor ? { cursor } : {}) });
    for (const e of page.entries) out.set(e.key, text(e.value)!);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

/** Ticks `ticker` until `cond` holds (watch callbacks run inside tick()). */
async function tickUntil(ticker: { tick(): number }, cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  await waitFor(() => { ticker.tick(); return cond(); }, what, timeoutMs);
}

/** The lease API the lead is adding (`store.lease(scope, { ttlMs })`); the lease group runs once a store has it. */
interface Lease {
  readonly scope: string;
  readonly token: unknown;
  readonly expiresAt: number;
  renew(): Promise<unknown>;
  release(): Promise<unknown>;
}
interface Leasing {
  lease(scope: string, options: { ttlMs: number }): Promise<Lease>;
  put(key: string, value: Uint8Array, options: WriteOptions & { fence: Lease }): Promise<void>;
}
function hasLeases(store: Store): store is Store & Leasing {
  const lease: unknown = Reflect.get(store, 'lease');
  return typeof lease === 'function';
}
function isLeaseLost(err: unknown): boolean {
  return err instanceof TickstoreError && err.name === 'LeaseLostError';
}

/**
 * Registers the whole suite against `target`, as one mocha `describe` block
 * named `conformance: <name>`. Call it at the top level of a test file that
 * mocha loads (it uses mocha's `describe`/`it`/hooks, and chai's `expect`).
 *
 * @param target The engine under test: how to open a fresh store, reopen it, open a peer, and what it supports (see {@link ConformanceTarget}).
 * @throws Error `supports.permanence` without `reopen`, or `supports.sharedAcrossProcesses` without `peer` (thrown at once: nothing is registered).
 *
 * @example
 * ```ts
 * import { openStore, memoryBackend } from 'tickstore';
 * import { conformance } from 'tickstore/testkit';
 *
 * let n = 0;
 * conformance({
 *   name: 'memory',
 *   supports: { permanence: false, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: true },
 *   open: () => openStore({ backend: memoryBackend({ dir: `conformance-${process.pid}-${++n}` }) }),
 * });
 * ```
 */
export function conformance(target: ConformanceTarget): void {
  const { supports } = target;
  if (supports.permanence && !target.reopen) throw new Error(`${target.name}: supports.permanence needs reopen()`);
  if (supports.sharedAcrossProcesses && !target.peer) throw new Error(`${target.name}: supports.sharedAcrossProcesses needs peer()`);

  describe(`conformance: ${target.name}`, function () {
    this.timeout(60_000);
    const opened: Store[] = [];
    const open = async (): Promise<Store> => { const s = await target.open(); opened.push(s); return s; };
    const reopen = async (s: Store): Promise<Store> => { const again = await target.reopen!(s); opened.push(again); return again; };
    const peer = async (s: Store): Promise<Store> => { const p = await target.peer!(s); opened.push(p); return p; };

    if (target.before) before(function () { return target.before!.call(this); });
    const closeAll = async (): Promise<void> => { await Promise.all(opened.splice(0).map((s) => s.close())); };
    afterEach(closeAll);
    after(closeAll); // stores opened in before() hooks (the lease probe)
    if (target.after) after(() => target.after!());

    const ctx: Ctx = { target, open, reopen, peer };
    resultRules(ctx);
    tickerRules(ctx);
    watchRules(ctx);
    memcacheRules(ctx);
    keyValueRules(ctx);
    scanRules(ctx);
    batchRules(ctx);
    conditionalRules(ctx);
    versionRules(ctx);
    transactionRules(ctx);
    flushRules(ctx);
    lifecycleRules(ctx);
    if (supports.ttl) ttlRules(ctx);
    if (supports.permanence) permanenceRules(ctx);
    if (target.peer) sharingRules(ctx);
    if (supports.fencing) leaseRules(ctx);
  });
}

interface Ctx {
  target: ConformanceTarget;
  open(): Promise<Store>;
  reopen(store: Store): Promise<Store>;
  peer(store: Store): Promise<Store>;
}

// ---------------------------------------------------------------------------------------------
// Result rules: handles, tick(), poll(), fromCache, per write policy (and per engine variant).

function resultRules({ target, open }: Ctx): void {
  const variants = target.variants ?? [{ name: 'as opened' }];
  const policies: WritePolicy[] = ['evict', 'update'];
  for (const variant of variants) for (const writePolicy of policies) {
    describe(`result rules (${variant.name}, ${writePolicy})`, () => {
      let store: Store;
      const settle = (): Promise<void> => variant.settle?.(store) ?? Promise.resolve();
      beforeEach(async () => {
        store = await open();
        await store.configure({ ...variant.tunables, writePolicy });
      });

      it('returns non-zero handles at once and delivers results only inside tick()', async () => {
        const t = store.ticker();
        const hp = t.put('k', bytes('v'));
        const hg = t.get('missing');
        const hd = t.delete('missing');
        for (const h of [hp, hg, hd]) expect(h).to.be.a('number').and.not.equal(0);
        expect(new Set([hp, hg, hd]).size).to.equal(3);
        await waitFor(() => t.waiting === 3, 'results to arrive');
        expect(t.poll(), 'nothing is visible before tick()').to.equal(undefined);
        expect(t.tick()).to.equal(3);
        const rs = [t.poll(), t.poll(), t.poll()] as StoreResult[];
        expect(t.poll(), 'poll() is empty once drained').to.equal(undefined);
        expect(rs.map((r) => r.handle)).to.deep.equal([hp, hg, hd]);
        expect(rs[0]).to.include({ op: 'put', ok: true, found: true, fromCache: false });
        expect(rs[1]).to.include({ op: 'get', ok: true, found: false, fromCache: false });
        expect(rs[1]!.value).to.equal(undefined);
        expect(rs[2]).to.include({ op: 'delete', ok: true, found: false });
      });

      it('DELETE reports whether the key existed; an empty value is a value', async () => {
        await store.put('e', new Uint8Array(0));
        await settle();
        const v = await store.get('e');
        expect(v).to.be.instanceOf(Uint8Array);
        expect(v!.length).to.equal(0);
        expect(await store.delete('e')).to.equal(true);
        expect(await store.delete('e')).to.equal(false);
      });

      it('a memcache hit gets its own handle and a fromCache result at the next tick, with no engine read', async () => {
        await store.put('hot', bytes('fire'));
        await settle();
        expect(text(await store.get('hot'))).to.equal('fire'); // fills the cache
        const before = store.metrics();
        const seen: StoreResult[] = [];
        const t = store.ticker({ onResult: (r) => seen.push(r) });
        const h = t.get('hot');
        expect(seen).to.have.length(0);
        expect(t.tick()).to.equal(1);
        expect(seen[0]).to.include({ handle: h, op: 'get', ok: true, found: true, fromCache: true });
        expect(text(seen[0]!.value)).to.equal('fire');
        const after = store.metrics();
        expect(after.readStoreReads).to.equal(before.readStoreReads);
        expect(after.cacheHits).to.equal(before.cacheHits + 1);
        expect(after.opsInFlight).to.equal(0);
      });

      it('cacheOnRead: false reads without filling the memcache', async () => {
        await store.put('cold', bytes('x'));
        await settle();
        await store.get('cold', { cacheOnRead: false });
        expect(store.metrics().memcacheSize).to.equal(0);
        await store.get('cold');
        expect(store.metrics().memcacheSize).to.equal(1);
        const t = store.ticker();
        t.get('cold');
        const [r] = await tickFor(t, 1);
        expect(r!.fromCache).to.equal(true);
      });

      it('results of one ticker never surface in another', async () => {
        const a = store.ticker();
        const b = store.ticker();
        const ha = a.put('a', bytes('1'));
        await sleep(30);
        b.tick();
        expect(b.poll()).to.equal(undefined);
        const [r] = await tickFor(a, 1);
        expect(r!.handle).to.equal(ha);
      });

      it('a write replaces what a later read returns, through the cache, for this write policy', async () => {
        await store.put('w', bytes('one'));
        await settle();
        expect(text(await store.get('w'))).to.equal('one');
        expect(store.metrics().memcacheSize).to.equal(1);
        await store.put('w', bytes('two'));
        if (writePolicy === 'evict') expect(store.metrics().memcacheSize, 'evicted').to.equal(0);
        else expect(store.metrics().memcacheSize, 'overwritten in place').to.equal(1);
        await settle();
        const hits = store.metrics().cacheHits;
        expect(text(await store.get('w'))).to.equal('two');
        expect(store.metrics().cacheHits - hits).to.equal(writePolicy === 'update' ? 1 : 0);
        await store.delete('w');
        expect(store.metrics().memcacheSize).to.equal(0);
        await settle();
        expect(await store.get('w')).to.equal(undefined);
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Tickers: every form, issue order, callbacks, isolation, dispose.

function tickerRules({ open }: Ctx): void {
  describe('tickers', () => {
    let store: Store;
    beforeEach(async () => { store = await open(); });

    it('every op has a ticker form whose result names it and carries its fields', async () => {
      await store.put('cached', bytes('c'));
      const t = store.ticker();
      const h = {
        put: t.put('k', bytes('v')),
        get: t.get('k'),
        exists: t.exists('k'),
        putIfNo: t.putIf('k', bytes('w'), { absent: true }),
        putIfYes: t.putIf('k', bytes('w'), { value: bytes('v') }),
        batch: t.batch([{ type: 'put', key: 'b1', value: bytes('1') }, { type: 'delete', key: 'cached' }]),
        scan: t.scan({ limit: 10 }),
        flush: t.flush(),
        del: t.delete('k'),
        tx: t.transaction(async (tx) => { tx.put('t1', bytes(text(await tx.get('b1'))! + '!')); return 'done'; }),
      };
      expect(new Set(Object.values(h)).size, 'every handle distinct').to.equal(Object.keys(h).length);
      for (const v of Object.values(h)) expect(v).to.be.a('number').and.not.equal(0);
      const by = new Map((await tickFor(t, Object.keys(h).length)).map((r) => [r.handle, r]));
      expect(by.get(h.put)).to.include({ op: 'put', ok: true, found: true });
      expect(by.get(h.get)).to.include({ op: 'get', ok: true, found: true });
      expect(text(by.get(h.get)!.value)).to.equal('v');
      expect(by.get(h.exists)).to.include({ op: 'exists', ok: true, found: true });
      expect(by.get(h.exists)!.version).to.be.a('number');
      expect(by.get(h.exists)!.value).to.equal(undefined);
      expect(by.get(h.putIfNo)).to.include({ op: 'putIf', ok: true, applied: false });
      expect(by.get(h.putIfNo)!.version, 'a mismatch reports the version it found').to.equal(by.get(h.exists)!.version);
      expect(by.get(h.putIfYes)).to.include({ op: 'putIf', ok: true, applied: true });
      expect(by.get(h.putIfYes)!.version).to.be.greaterThan(by.get(h.exists)!.version!);
      expect(by.get(h.batch)).to.include({ op: 'batch', ok: true });
      expect(by.get(h.scan)).to.include({ op: 'scan', ok: true });
      expect(keysOf({ entries: by.get(h.scan)!.entries! }), 'the scan sees every write issued before it').to.deep.equal(['b1', 'k']);
      expect(text(by.get(h.scan)!.entries![1]!.value)).to.equal('w');
      expect(by.get(h.scan)!.cursor).to.equal(undefined);
      expect(by.get(h.flush)).to.include({ op: 'flush', ok: true });
      expect(by.get(h.del)).to.include({ op: 'delete', ok: true, found: true });
      expect(by.get(h.tx)).to.include({ op: 'tx', ok: true, applied: true, txResult: 'done' });
      for (const r of by.values()) expect(r.error, r.op).to.equal(undefined);
      expect(await store.exists('k')).to.equal(false);
      expect(await store.exists('cached')).to.equal(false);
      expect(text(await store.get('t1'))).to.equal('1!');
    });

    it('results of engine ops arrive in issue order, across ticks, whatever their kind', async () => {
      const t = store.ticker();
      const issued: number[] = [];
      for (let i = 0; i < 60; i++) {
        const k = `o${i % 7}`;
        switch (i % 6) {
          case 0: issued.push(t.put(k, bytes(String(i)))); break;
          case 1: issued.push(t.get(k, { cacheOnRead: false })); break;
          case 2: issued.push(t.exists(k)); break;
          case 3: issued.push(t.delete(k)); break;
          case 4: issued.push(t.putIf(k, bytes(String(i)), { absent: true })); break;
          default: issued.push(t.scan({ prefix: 'o', limit: 3 })); break;
        }
        if (i % 20 === 19) await sleep(2);
      }
      const rs = await tickFor(t, issued.length);
      expect(rs.map((r) => r.handle)).to.deep.equal(issued);
      expect(rs.every((r) => r.ok)).to.equal(true);
    });

    it('a GET sees a PUT issued before it in the same tick, and each read in order sees the writes before it', async () => {
      const t = store.ticker();
      t.put('seq', bytes('1'));
      t.get('seq');
      t.put('seq', bytes('2'));
      t.get('seq');
      t.delete('seq');
      t.get('seq');
      const rs = await tickFor(t, 6);
      expect([rs[1], rs[3], rs[5]].map((r) => text(r!.value))).to.deep.equal(['1', '2', undefined]);
    });

    it('onResult runs only inside tick(), poll() then stays empty; a throwing callback leaves the rest for the next tick', async () => {
      let inTick = false;
      const outside: StoreResult[] = [];
      const seen: number[] = [];
      let throwOnce = true;
      const t = store.ticker({
        onResult: (r) => {
          if (!inTick) outside.push(r);
          seen.push(r.handle);
          if (throwOnce) { throwOnce = false; throw new Error('callback failed'); }
        },
      });
      const hs = [t.put('a', bytes('1')), t.put('b', bytes('2')), t.put('c', bytes('3'))];
      await waitFor(() => t.waiting === 3, 'results to arrive');
      inTick = true;
      expect(() => t.tick()).to.throw('callback failed');
      inTick = false;
      expect(seen).to.deep.equal([hs[0]]);
      expect(t.waiting, 'the rest wait for the next tick').to.equal(2);
      await sleep(10);
      inTick = true;
      expect(t.tick()).to.equal(2);
      inTick = false;
      expect(seen).to.deep.equal(hs);
      expect(outside).to.deep.equal([]);
      expect(t.poll(), 'with onResult, nothing queues for poll()').to.equal(undefined);
    });

    it('tick() returns how many results it delivered (0 when none), and poll() reads them in FIFO order', async () => {
      const t = store.ticker();
      expect(t.tick()).to.equal(0);
      const hs = [t.put('p1', bytes('1')), t.get('p1'), t.exists('p1')];
      await waitFor(() => t.waiting === 3, 'results');
      expect(t.waiting).to.equal(3);
      expect(t.tick()).to.equal(3);
      expect(t.waiting).to.equal(0);
      expect(t.tick()).to.equal(0);
      expect([t.poll()?.handle, t.poll()?.handle, t.poll()?.handle, t.poll()]).to.deep.equal([...hs, undefined]);
    });

    it('delivers a disposed ticker nothing, and other tickers are unaffected', async () => {
      const gone = store.ticker();
      const live = store.ticker();
      gone.put('a', bytes('1'));
      live.put('b', bytes('2'));
      gone.dispose();
      expect(gone.isDisposed).to.equal(true);
      const [r] = await tickFor(live, 1);
      expect(r!.op).to.equal('put');
      expect(gone.tick()).to.equal(0);
      expect(gone.poll()).to.equal(undefined);
      expect(() => gone.get('a')).to.throw(StoreClosedError, /disposed/);
      expect(() => gone.transaction(() => undefined)).to.throw(StoreClosedError);
      expect(() => gone.watch({ key: 'a' }, () => undefined)).to.throw(StoreClosedError);
      expect(text(await store.get('a')), 'the write itself still happened').to.equal('1');
    });

    it('ticker forms throw typed errors at the call and issue nothing; their callbacks are checked at the call', async () => {
      const t = store.ticker();
      expect(() => t.put('', bytes('v'))).to.throw(InvalidKeyError);
      expect(() => t.put('k', 'v' as never)).to.throw(InvalidValueError);
      expect(() => t.get('k', { cacheOnRead: 'yes' } as never)).to.throw(InvalidArgumentError);
      expect(() => t.put('k', bytes('v'), { ttl: 5 } as never)).to.throw(InvalidArgumentError);
      expect(() => t.transaction('not a function' as never)).to.throw(InvalidArgumentError);
      expect(() => store.ticker({ onResult: 5 } as never)).to.throw(InvalidArgumentError);
      expect(() => t.watch({ key: 'k' }, 'no' as never)).to.throw(InvalidArgumentError);
      await sleep(20);
      expect(t.tick(), 'nothing was issued').to.equal(0);
      expect(await store.exists('k')).to.equal(false);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Watches.

function watchRules({ open }: Ctx): void {
  describe('watches', () => {
    let store: Store;
    beforeEach(async () => { store = await open(); });

    it('a key watch hears every committed put and delete of that key, only on the watcher\'s own tick', async () => {
      const watcher = store.ticker();
      const writer = store.ticker();
      const changes: StoreChange[] = [];
      let inWatcherTick = false;
      const outside: StoreChange[] = [];
      watcher.watch({ key: 'world:motd' }, (c) => { if (!inWatcherTick) outside.push(c); changes.push(c); });
      writer.put('world:motd', bytes('hello'));
      writer.put('world:other', bytes('not watched'));
      await tickFor(writer, 2);
      await store.put('world:motd', bytes('again'));
      expect(await store.delete('world:motd')).to.equal(true);
      expect(changes, 'nothing before the watcher ticks').to.deep.equal([]);
      writer.tick();
      expect(changes, 'the writer\'s tick delivers nothing to the watcher').to.deep.equal([]);
      inWatcherTick = true;
      await tickUntil(watcher, () => changes.length >= 3, 'three changes');
      inWatcherTick = false;
      expect(outside).to.deep.equal([]);
      expect(changes.map((c) => [c.key, c.op, text(c.value)])).to.deep.equal([
        ['world:motd', 'put', 'hello'], ['world:motd', 'put', 'again'], ['world:motd', 'delete', undefined]]);
    });

    it('a prefix watch hears the keys under it and no others; the empty prefix hears every key', async () => {
      const t = store.ticker();
      const under: string[] = [];
      const all: string[] = [];
      t.watch({ prefix: keyPrefix(3, 7) }, (c) => under.push(`${c.op}:${c.key}`));
      t.watch({ prefix: '' }, (c) => all.push(c.key));
      const mine = buildKey(3, 7, [1]);
      const other = buildKey(3, 8, [1]);
      await store.put(mine, bytes('1'));
      await store.put(other, bytes('2'));
      await store.put('plain', bytes('3'));
      await store.delete(mine);
      await tickUntil(t, () => all.length >= 4, 'every change');
      await sleep(10);
      t.tick();
      expect(under).to.deep.equal([`put:${mine}`, `delete:${mine}`]);
      expect(all).to.deep.equal([mine, other, 'plain', mine]);
    });

    it('every watcher gets its own copy of the value; stop() and dispose() end watches', async () => {
      const a = store.ticker();
      const b = store.ticker();
      const got: { who: string; value: Uint8Array | undefined }[] = [];
      const stopA = a.watch({ key: 'w' }, (c) => { got.push({ who: 'a', value: c.value }); c.value![0] = 0; });
      b.watch({ key: 'w' }, (c) => got.push({ who: 'b', value: c.value }));
      const written = bytes('xyz');
      await store.put('w', written);
      written[0] = 0; // the caller's buffer, mutated after the write
      await tickUntil(a, () => got.length >= 1, 'a');
      await tickUntil(b, () => got.length >= 2, 'b');
      expect(got.map((g) => g.who)).to.deep.equal(['a', 'b']);
      expect(text(got[1]!.value), 'b is not affected by a\'s mutation nor the writer\'s').to.equal('xyz');
      stopA();
      b.dispose();
      await store.put('w', bytes('later'));
      await sleep(20);
      a.tick();
      b.tick();
      expect(got, 'no change after stop() and dispose()').to.have.length(2);
      const c = store.ticker();
      const late: string[] = [];
      c.watch({ key: 'w' }, (ch) => late.push(text(ch.value)!));
      await store.put('w', bytes('seen'));
      await tickUntil(c, () => late.length === 1, 'a watch added later');
      expect(late, 'a watch sees writes after it was added, not before').to.deep.equal(['seen']);
    });

    it('batches and transactions report each of their writes; a conditional write that did not apply reports nothing', async () => {
      const t = store.ticker();
      const changes: string[] = [];
      t.watch({ prefix: 'g:' }, (c) => changes.push(`${c.op}:${c.key}=${text(c.value) ?? ''}`));
      await store.batch([{ type: 'put', key: 'g:a', value: bytes('1') }, { type: 'put', key: 'g:b', value: bytes('2') }]);
      await store.transaction((tx) => { tx.put('g:c', bytes('3')); tx.delete('g:a'); });
      expect(await store.putIfAbsent('g:b', bytes('nope'))).to.equal(false);
      expect(await store.compareAndSwap('g:b', bytes('wrong'), bytes('nope'))).to.equal(false);
      expect(await store.compareAndSwap('g:b', bytes('2'), bytes('22'))).to.equal(true);
      await tickUntil(t, () => changes.length >= 5, 'five changes');
      await sleep(10);
      t.tick();
      expect(changes.slice(0, 2)).to.deep.equal(['put:g:a=1', 'put:g:b=2']);
      expect(changes.slice(2, 4).sort()).to.deep.equal(['delete:g:a=', 'put:g:c=3']);
      expect(changes.slice(4)).to.deep.equal(['put:g:b=22']);
    });

    it('bad watch targets are typed errors at the call', () => {
      const t = store.ticker();
      expect(() => t.watch({ key: '' }, () => undefined)).to.throw(InvalidKeyError);
      expect(() => t.watch({ key: 'k', prefix: 'p' } as never, () => undefined)).to.throw(InvalidKeyError);
      expect(() => t.watch({} as never, () => undefined)).to.throw(InvalidKeyError);
      expect(() => t.watch({ key: 'k', exact: true } as never, () => undefined)).to.throw(InvalidArgumentError);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The memcache, as users see it.

function memcacheRules({ open }: Ctx): void {
  describe('memcache', () => {
    let store: Store;
    beforeEach(async () => { store = await open(); });

    it('a GET issued right after a PUT in the same tick sees it, and never a stale cached copy', async () => {
      const t = store.ticker();
      for (let i = 0; i < 50; i++) {
        t.put('k', bytes(`v${i}`));
        t.get('k');
        t.put('k2', bytes(`w${i}`));
        t.get('k2');
        const rs = await tickFor(t, 4);
        expect(text(rs[1]!.value)).to.equal(`v${i}`);
        expect(text(rs[3]!.value)).to.equal(`w${i}`);
      }
      // A cached value, then a write and a read in the same tick: the read must not be served the old cache entry.
      expect(text(await store.get('k'))).to.equal('v49');
      t.put('k', bytes('new'));
      t.get('k');
      const rs = await tickFor(t, 2);
      expect(rs[1]).to.include({ fromCache: false });
      expect(text(rs[1]!.value)).to.equal('new');
    });

    for (const writePolicy of ['evict', 'update'] as const) {
      it(`(${writePolicy}) a value in flight is never served stale: reads while writes to a cached key are pending see the newest issued`, async () => {
        await store.configure({ writePolicy });
        await store.put('hot', bytes('0'));
        expect(text(await store.get('hot'))).to.equal('0'); // cached
        const t = store.ticker();
        const reads: number[] = [];
        for (let i = 1; i <= 20; i++) {
          t.put('hot', bytes(String(i)));
          reads.push(t.get('hot'));
          void store.put('hot', bytes(`${i}p`));
          reads.push(t.get('hot'));
        }
        const rs = await tickFor(t, 60);
        const values = rs.filter((r) => reads.includes(r.handle)).map((r) => text(r.value));
        const want = Array.from({ length: 20 }, (_, i) => [String(i + 1), `${i + 1}p`]).flat();
        expect(values).to.deep.equal(want);
        expect(text(await store.get('hot'))).to.equal('20p');
        const [again] = await (async () => { t.get('hot'); return tickFor(t, 1); })();
        expect(text(again!.value)).to.equal('20p');
      });
    }

    it('values handed out are the caller\'s own copies: mutating one never changes the store, the cache or another reader', async () => {
      await store.configure({ writePolicy: 'update' });
      const mine = bytes('two');
      await store.put('k', bytes('one'));
      const read = (await store.get('k'))!; // fills the cache
      read[0] = 88;
      await store.put('k', mine); // update policy: cached in place
      mine[0] = 89;
      const t = store.ticker();
      t.get('k');
      const [r] = await tickFor(t, 1);
      expect(r!.fromCache, 'served by the memcache').to.equal(true);
      expect(text(r!.value)).to.equal('two');
      r!.value![0] = 90;
      expect(text(await store.get('k'))).to.equal('two');
      const page = await store.scan({ prefix: 'k' });
      page.entries[0]!.value[0] = 91;
      expect(text((await store.scan({ prefix: 'k' })).entries[0]!.value)).to.equal('two');
      const inTx = await store.transaction(async (tx) => tx.get('k'));
      inTx![0] = 92;
      expect(text(await store.get('k'))).to.equal('two');
    });

    it('a value handed out stays intact after the engine reuses the buffers its reply arrived in', async () => {
      const value = (i: number, round: number): string => `${round}:${i}:`.padEnd(300, String.fromCharCode(97 + ((i + round) % 26)));
      await store.batch(Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: bytes(value(i, 0)) })));
      const held: [string, Uint8Array | undefined][] = [];
      for (let round = 0; round < 6; round++) {
        const t = store.ticker();
        for (let i = 0; i < 200; i++) t.get(`k${i}`, { cacheOnRead: false });
        const got = await tickFor(t, 200);
        got.forEach((r, i) => held.push([value(i, round), r.value]));
        const page = await store.scan({ prefix: 'k', limit: 50 });
        for (const e of page.entries) held.push([text(await store.get(e.key, { cacheOnRead: false }))!, e.value]);
        const v = await store.transaction(async (tx) => tx.get('k7'));
        held.push([value(7, round), v]);
        // New values: the next round's replies overwrite whatever buffers this round's came in.
        await store.batch(Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: bytes(value(i, round + 1)) })));
      }
      for (const [want, got] of held) expect(text(got)).to.equal(want);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Keys and values: empty values, the size limits, bad input.

function keyValueRules({ open }: Ctx): void {
  describe('keys and values', () => {
    let store: Store;
    beforeEach(async () => { store = await open(); });

    it("a value's bytes are taken at the call: the caller reusing its array right after changes nothing stored", async () => {
      const buf = bytes('AAAA');
      const t = store.ticker();
      t.put('r:ticker', buf);
      t.batch([{ type: 'put', key: 'r:batch', value: buf }]);
      t.putIf('r:cond', buf, { absent: true });
      buf.fill(0x5a); // 'ZZZZ', before the ops were sent anywhere
      await tickFor(t, 3);
      const p = store.put('r:promise', buf);
      const cas = bytes('ZZZZ');
      const swapped = store.compareAndSwap('r:promise', cas, bytes('next'));
      buf.fill(0x42);
      cas.fill(0x43); // the expected value too is the one given at the call
      await p;
      expect(await swapped, 'compared with ZZZZ, as given').to.equal(true);
      await store.transaction((tx) => { tx.put('r:tx', buf); buf.fill(0x44); });
      expect(await Promise.all(['r:ticker', 'r:batch', 'r:cond', 'r:promise', 'r:tx'].map(async (k) => text(await store.get(k)))))
        .to.deep.equal(['AAAA', 'AAAA', 'AAAA', 'next', 'BBBB']);
    });

    it('an empty value is a value everywhere: get, exists, scan, batch, putIfAbsent, compareAndSwap, transactions', async () => {
      const empty = new Uint8Array(0);
      await store.batch([{ type: 'put', key: 'e:batch', value: empty }]);
      expect(await store.putIfAbsent('e:pia', empty)).to.equal(true);
      expect(await store.putIfAbsent('e:pia', bytes('x')), 'an empty value is present').to.equal(false);
      await store.transaction((tx) => { tx.put('e:tx', empty); });
      expect(await store.transaction(async (tx) => (await tx.get('e:tx'))?.length)).to.equal(0);
      for (const k of ['e:batch', 'e:pia', 'e:tx']) {
        expect(await store.exists(k), k).to.equal(true);
        expect((await store.get(k))?.length, k).to.equal(0);
        expect(await store.version(k), k).to.be.a('number');
      }
      const page = await store.scan({ prefix: 'e:' });
      expect(page.entries.map((e) => [e.key, e.value.length])).to.deep.equal([['e:batch', 0], ['e:pia', 0], ['e:tx', 0]]);
      const t = store.ticker();
      t.get('e:pia');
      t.get('e:pia');
      const rs = await tickFor(t, 2);
      expect(rs.map((r) => [r.found, r.value?.length])).to.deep.equal([[true, 0], [true, 0]]);
    });

    it(`a key of ${MAX_KEY_BYTES} UTF-8 bytes (multi-byte and astral characters) and a value of ${MAX_VALUE_BYTES} bytes round-trip; one byte more is refused and writes nothing`, async () => {
      const maxKey = '😀'.repeat(MAX_KEY_BYTES / 4 - 1) + 'éa';
      expect(Buffer.byteLength(maxKey)).to.equal(MAX_KEY_BYTES - 1);
      const key = maxKey + 'z';
      expect(Buffer.byteLength(key)).to.equal(MAX_KEY_BYTES);
      const big = new Uint8Array(MAX_VALUE_BYTES);
      for (let i = 0; i < big.length; i += 4093) big[i] = i % 251;
      big[big.length - 1] = 7;
      await store.put(key, big);
      const got = (await store.get(key, { cacheOnRead: false }))!;
      expect(got.length).to.equal(MAX_VALUE_BYTES);
      expect(Buffer.compare(Buffer.from(got.buffer, got.byteOffset, got.length), Buffer.from(big.buffer)), 'same bytes').to.equal(0);
      expect(keysOf(await store.scan({ prefix: maxKey }))).to.deep.equal([key]);
      await store.batch([{ type: 'put', key, value: bytes('small') }, { type: 'put', key: 'ok', value: bytes('1') }]);
      expect(text(await store.get(key))).to.equal('small');
      await rejects(() => store.put(key + 'z', bytes('v')), InvalidKeyError, 'a key one byte too long');
      await rejects(() => store.put(maxKey + '😀', bytes('v')), InvalidKeyError, 'a key three bytes too long');
      await rejects(() => store.put('too-big', new Uint8Array(MAX_VALUE_BYTES + 1)), InvalidValueError, 'a value one byte too large');
      await rejects(() => store.batch([{ type: 'put', key: 'side', value: bytes('1') }, { type: 'put', key: 'too-big', value: new Uint8Array(MAX_VALUE_BYTES + 1) }]),
        InvalidValueError, 'a batch with a value one byte too large');
      expect([...(await dump(store)).keys()].sort(), 'nothing written by the refused calls').to.deep.equal(byUtf8([key, 'ok']).sort());
      expect(await store.delete(key)).to.equal(true);
    });

    it('bad input is a typed error — promise forms reject, never throw — and writes nothing', async () => {
      const cases: [string, () => Promise<unknown>, ErrorClass][] = [
        ['put(empty key)', () => store.put('', bytes('v')), InvalidKeyError],
        ['put(lone surrogate)', () => store.put('a\uD800', bytes('v')), InvalidKeyError],
        ['put(non-string key)', () => store.put(7 as never, bytes('v')), InvalidKeyError],
        ['put(string value)', () => store.put('k1', 'v' as never), InvalidValueError],
        ['put(unknown option)', () => store.put('k2', bytes('v'), { ttl: 5 } as never), InvalidArgumentError],
        ['put(ttlMs and expiresAt)', () => store.put('k3', bytes('v'), { ttlMs: 10, expiresAt: Date.now() + 10 }), InvalidArgumentError],
        ['writeDurable(string value)', () => store.writeDurable('k4', 'v' as never), InvalidValueError],
        ['delete(empty key)', () => store.delete(''), InvalidKeyError],
        ['get(bad option)', () => store.get('k', { cacheOnRead: 1 } as never), InvalidArgumentError],
        ['exists(empty key)', () => store.exists(''), InvalidKeyError],
        ['version(empty key)', () => store.version(''), InvalidKeyError],
        ['putIfAbsent(bad value)', () => store.putIfAbsent('k5', null as never), InvalidValueError],
        ['compareAndSwap(bad expected)', () => store.compareAndSwap('k6', 'x' as never, bytes('v')), InvalidValueError],
        ['putVersioned(version 0)', () => store.putVersioned('k7', bytes('v'), 0), InvalidArgumentError],
        ['batch([])', () => store.batch([]), InvalidArgumentError],
        ['transaction(not a function)', () => store.transaction(5 as never), InvalidArgumentError],
        ['transaction(retries -1)', () => store.transaction(() => undefined, { retries: -1 }), InvalidArgumentError],
        ['scan(limit 0)', () => store.scan({ limit: 0 }), InvalidArgumentError],
      ];
      for (const [what, call, cls] of cases) {
        const err = await rejects(call, cls, what);
        expect(err, what).to.be.instanceOf(TickstoreError);
      }
      expect((await dump(store)).size, 'nothing written').to.equal(0);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Ordered scans.

function scanRules({ open }: Ctx): void {
  describe('exists and ordered scans', () => {
    let store: Store;
    beforeEach(async () => { store = await open(); });

    it('exists tells presence (and the version) without reading the value, through the ticker and the promise form', async () => {
      await store.put('here', bytes('x'));
      await store.put('empty', new Uint8Array(0));
      expect(await store.exists('here')).to.equal(true);
      expect(await store.exists('empty')).to.equal(true);
      expect(await store.exists('nowhere')).to.equal(false);
      await store.get('here'); // now cached
      const t = store.ticker();
      t.exists('here'); t.exists('nowhere'); t.delete('here'); t.exists('here');
      const rs = await tickFor(t, 4);
      expect(rs.map((r) => [r.op, r.found, r.fromCache])).to.deep.equal([
        ['exists', true, false], ['exists', false, false], ['delete', true, false], ['exists', false, false]]);
      expect(rs[0]!.version).to.be.a('number');
      expect(rs[0]!.value).to.equal(undefined);
      expect(rs[1]!.version, 'an absent key has no version').to.equal(undefined);
      expect(() => t.exists('' as string)).to.throw(InvalidKeyError);
    });

    it('a buildKey prefix lists exactly one player\'s records for one function, in param order', async () => {
      const params = [300n, 2n, 10n, 2n ** 40n, 0n];
      for (const p of params) await store.put(buildKey(7, 42, [p]), bytes(`p${p}`));
      await store.put(buildKey(7, 43, [1]), bytes('other player'));
      await store.put(buildKey(8, 42, [1]), bytes('other function'));
      await store.put(buildKey(7, 42), bytes('no params'));
      const { entries, cursor } = await store.scan({ prefix: keyPrefix(7, 42) });
      expect(cursor).to.equal(undefined);
      expect(entries.map((e) => text(e.value))).to.deep.equal(['no params', 'p0', 'p2', 'p10', 'p300', `p${2n ** 40n}`]);
    });

    it('orders by UTF-8 bytes (not UTF-16 units); honours gt/gte/lt/lte, limit and reverse', async () => {
      const keys = ['a', 'b', 'c', 'd', 'é', '\uffff', '😀', 'ab', '\u007f', 'Z', '\u00ff', '\u0800', '𝄞'];
      for (const k of keys) await store.put(k, bytes(k));
      const byBytes = byUtf8(keys);
      expect(byBytes.indexOf('\uffff'), 'U+FFFF sorts before astral characters in UTF-8, after them in UTF-16')
        .to.be.lessThan(byBytes.indexOf('😀'));
      expect([...keys].sort().indexOf('\uffff')).to.be.greaterThan([...keys].sort().indexOf('😀'));
      const all = keysOf(await store.scan());
      expect(all).to.deep.equal(byBytes);
      expect(keysOf(await store.scan({ reverse: true }))).to.deep.equal([...byBytes].reverse());
      expect(keysOf(await store.scan({ gt: 'a', lte: 'c' }))).to.deep.equal(['ab', 'b', 'c']);
      expect(keysOf(await store.scan({ gte: 'ab', lt: 'c' }))).to.deep.equal(['ab', 'b']);
      expect(keysOf(await store.scan({ gte: 'b', limit: 2, reverse: true }))).to.deep.equal(byBytes.slice(-2).reverse());
      expect(keysOf(await store.scan({ gt: '\uffff' })), 'astral keys sort after U+FFFF').to.deep.equal(byUtf8(['😀', '𝄞']));
      expect(keysOf(await store.scan({ gte: 'é', lt: '😀' }))).to.deep.equal(byBytes.slice(byBytes.indexOf('é'), byBytes.indexOf('😀')));
      const first = await store.scan({ limit: 3 });
      expect(keysOf(first), 'early stop').to.deep.equal(byBytes.slice(0, 3));
      expect(first.cursor).to.be.a('string');
      expect((await store.scan({ gt: 'zzz', lt: 'zzzz' })).entries, 'an empty range').to.deep.equal([]);
    });

    it('a prefix and bounds combine; non-ASCII and astral prefixes match by bytes', async () => {
      const keys = ['café:1', 'café:2', 'cafe:1', 'caf', 'café', '😀:a', '😀:b', '😀', '😁:a'];
      for (const k of keys) await store.put(k, bytes('v'));
      expect(keysOf(await store.scan({ prefix: 'café' }))).to.deep.equal(['café', 'café:1', 'café:2']);
      expect(keysOf(await store.scan({ prefix: '😀' }))).to.deep.equal(['😀', '😀:a', '😀:b']);
      expect(keysOf(await store.scan({ prefix: '😀', gt: '😀' }))).to.deep.equal(['😀:a', '😀:b']);
      expect(keysOf(await store.scan({ prefix: 'café', lt: 'café:2', reverse: true }))).to.deep.equal(['café:1', 'café']);
      expect(keysOf(await store.scan({ prefix: 'caf', gte: 'cafe:0', limit: 2 }))).to.deep.equal(['cafe:1', 'café']);
    });

    it('lists at most 100 keys by default, then continues from the cursor', async () => {
      await store.batch(Array.from({ length: 150 }, (_, i) => ({ type: 'put' as const, key: `d:${String(i).padStart(3, '0')}`, value: bytes('v') })));
      const page = await store.scan();
      expect(page.entries).to.have.length(100);
      expect(page.cursor).to.be.a('string');
      const rest = await store.scan({ cursor: page.cursor! });
      expect(rest.entries).to.have.length(50);
      expect(rest.cursor).to.equal(undefined);
      expect([...keysOf(page), ...keysOf(rest)]).to.deep.equal(Array.from({ length: 150 }, (_, i) => `d:${String(i).padStart(3, '0')}`));
    });

    for (const reverse of [false, true]) {
      it(`pages with an opaque cursor (${reverse ? 'reverse' : 'forward'}) list every key once, in order, while writes continue`, async () => {
        const keys = Array.from({ length: 250 }, (_, i) => `item:${String(i).padStart(4, '0')}`);
        await Promise.all(keys.map((k) => store.put(k, bytes(k))));
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.scan({ prefix: 'item:', limit: 40, reverse, ...(cursor ? { cursor } : {}) });
          seen.push(...keysOf(page));
          cursor = page.cursor;
          pages++;
          // Writes between pages: overwrites, and keys outside the prefix.
          await store.put(keys[pages * 7]!, bytes('changed'));
          await store.put(`zzz:${pages}`, bytes('x'));
        } while (cursor);
        expect(pages).to.equal(7);
        expect(seen).to.deep.equal(reverse ? [...keys].reverse() : keys);
      });

      it(`pages (${reverse ? 'reverse' : 'forward'}) through every key of many players' key groups and non-player keys, by promise and by ticker`, async () => {
        const keys: string[] = [];
        for (const funcId of [1, 2, 300]) for (const userId of [1, 2, 42, 2 ** 40, 2 ** 53 - 1]) for (const params of [[], [0], [7, 1], [2 ** 33]]) {
          keys.push(buildKey(funcId, userId, params));
        }
        keys.push('motd', 'world:counter', 'world:é', 'world:😀', '~last', '!first');
        // Plain puts, one tick: keys of many players may live in different Redis Cluster slots, which no batch spans.
        await Promise.all(keys.map((key, i) => store.put(key, bytes(`v${i}`))));
        const want = reverse ? byUtf8(keys).reverse() : byUtf8(keys);
        const viaPromise: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.scan({ limit: 7, reverse, ...(cursor ? { cursor } : {}) });
          expect(page.entries.length).to.be.at.most(7);
          viaPromise.push(...keysOf(page));
          cursor = page.cursor;
        } while (cursor);
        expect(viaPromise).to.deep.equal(want);
        const t = store.ticker();
        const viaTicker: string[] = [];
        cursor = undefined;
        for (;;) {
          t.scan({ limit: 11, reverse, ...(cursor ? { cursor } : {}) });
          const [r] = await tickFor(t, 1);
          viaTicker.push(...r!.entries!.map((e) => e.key));
          cursor = r!.cursor;
          if (!cursor) break;
        }
        expect(viaTicker).to.deep.equal(want);
        for (const userId of [2, 2 ** 53 - 1]) {
          const one = keysOf(await store.scan({ prefix: keyPrefix(2, userId), reverse }));
          const mine = keys.filter((k) => k.startsWith(keyPrefix(2, userId)));
          expect(one, `player ${userId}`).to.deep.equal(reverse ? byUtf8(mine).reverse() : byUtf8(mine));
          expect(one).to.have.length(4);
        }
      });
    }

    it('a page is a consistent snapshot, ordered with the writes of the same tick', async () => {
      const t = store.ticker();
      t.scan({ prefix: 's:' });
      for (let i = 0; i < 50; i++) t.put(`s:${i}`, bytes('v'));
      t.scan({ prefix: 's:', limit: 10_000 });
      const rs = await tickFor(t, 52);
      expect(rs[0]!.entries, 'before the writes').to.deep.equal([]);
      expect(rs[51]!.entries!.length, 'after all of them').to.equal(50);
    });

    it('bad scan options and cursors are typed errors at the call site', async () => {
      const t = store.ticker();
      const bad: [unknown, ErrorClass][] = [
        [{ limit: 0 }, InvalidArgumentError], [{ limit: 10_001 }, InvalidArgumentError], [{ limit: 1.5 }, InvalidArgumentError],
        [{ reverse: 'yes' }, InvalidArgumentError], [{ gt: 5 }, InvalidKeyError], [{ prefix: 7 }, InvalidKeyError],
        [{ cursor: 'not a cursor!' }, InvalidArgumentError], [{ cursor: Buffer.from('{"k":1}').toString('base64url') }, InvalidArgumentError],
        [{ sort: 'asc' }, InvalidArgumentError], ['nope', InvalidArgumentError],
      ];
      for (const [o, cls] of bad) {
        expect(() => t.scan(o as never), JSON.stringify(o)).to.throw(cls);
        await rejects(() => store.scan(o as never), cls, JSON.stringify(o));
      }
      await store.put('a', bytes('1'));
      await store.put('b', bytes('2'));
      const page = await store.scan({ limit: 1 });
      expect(() => t.scan({ cursor: page.cursor!, reverse: true }), 'a cursor of the other direction').to.throw(InvalidArgumentError);
      await rejects(() => store.scan({ cursor: page.cursor!, reverse: true }), InvalidArgumentError, 'a cursor of the other direction');
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Atomic batches.

function batchRules({ open }: Ctx): void {
  describe('atomic batches', () => {
    let store: Store;
    beforeEach(async () => { store = await open(); });

    it('applies puts and deletes together, through the ticker and the promise form, and tells watchers', async () => {
      await store.put('a', bytes('old-a'));
      await store.get('a'); // cached: the batch must invalidate it
      const watcher = store.ticker();
      const changes: string[] = [];
      watcher.watch({ prefix: '' }, (c) => changes.push(`${c.op}:${c.key}`));
      await store.batch([{ type: 'put', key: 'a', value: bytes('new-a') }, { type: 'put', key: 'b', value: bytes('b') }, { type: 'delete', key: 'c' }]);
      expect(text(await store.get('a'))).to.equal('new-a');
      expect(text(await store.get('b'))).to.equal('b');
      const t = store.ticker();
      t.batch([{ type: 'delete', key: 'a' }, { type: 'put', key: 'c', value: bytes('c') }]);
      const [r] = await tickFor(t, 1);
      expect(r).to.include({ op: 'batch', ok: true });
      expect(await store.get('a')).to.equal(undefined);
      expect(text(await store.get('c'))).to.equal('c');
      watcher.tick();
      expect(changes).to.deep.equal(['put:a', 'put:b', 'delete:c', 'delete:a', 'put:c']);
    });

    it('is seen whole or not at all: concurrent scans and reads never see part of a batch', async () => {
      const keys = ['atom:a', 'atom:b', 'atom:c', 'atom:d'];
      await store.batch(keys.map((key) => ({ type: 'put' as const, key, value: bytes('0') })));
      let writing = true;
      const writer = (async () => {
        for (let i = 1; i <= 60; i++) await store.batch(keys.map((key) => ({ type: 'put' as const, key, value: bytes(String(i)) })));
        writing = false;
      })();
      const t = store.ticker();
      let checks = 0;
      while (writing) {
        const page = await store.scan({ prefix: 'atom:' });
        expect(new Set(page.entries.map((e) => text(e.value))).size, `scan saw ${page.entries.map((e) => text(e.value)).join(',')}`).to.equal(1);
        for (const k of keys) t.get(k, { cacheOnRead: false });
        t.scan({ prefix: 'atom:' });
        const [r] = (await tickFor(t, 5)).slice(4);
        expect(new Set(r!.entries!.map((e) => text(e.value))).size).to.equal(1);
        checks++;
      }
      await writer;
      expect(checks).to.be.greaterThan(0);
      expect([...(await dump(store)).values()]).to.deep.equal(['60', '60', '60', '60']);
    });

    it('bad batches are typed errors at the call site, and write nothing', async () => {
      const t = store.ticker();
      const bad: [unknown, ErrorClass][] = [
        [[], InvalidArgumentError], ['x', InvalidArgumentError], [[{ type: 'upsert', key: 'k' }], InvalidArgumentError],
        [[{ type: 'put', key: 'ok', value: bytes('1') }, { type: 'put', key: '', value: bytes('1') }], InvalidKeyError],
        [[{ type: 'put', key: 'ok', value: 'text' }], InvalidValueError], [new Array(10_001).fill({ type: 'delete', key: 'k' }), InvalidArgumentError],
        [[{ type: 'put', key: 'ok', value: bytes('1') }, { type: 'delete', key: 'ok', extra: 1 }], InvalidArgumentError],
      ];
      for (const [ops, cls] of bad) {
        expect(() => t.batch(ops as never), JSON.stringify(ops).slice(0, 60)).to.throw(cls);
        await rejects(() => store.batch(ops as never), cls, JSON.stringify(ops).slice(0, 60));
      }
      expect(await store.exists('ok')).to.equal(false);
      expect((await dump(store)).size, 'nothing written').to.equal(0);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Conditional writes.

function conditionalRules({ open }: Ctx): void {
  describe('conditional writes: putIfAbsent, compareAndSwap, versions', () => {
    let store: Store;
    beforeEach(async () => { store = await open(); await store.configure({ writePolicy: 'update' }); });

    it('putIfAbsent writes once; a mismatch is a normal ok && !applied result', async () => {
      expect(await store.putIfAbsent('acct', bytes('first'))).to.equal(true);
      expect(await store.putIfAbsent('acct', bytes('second'))).to.equal(false);
      expect(text(await store.get('acct'))).to.equal('first');
      const t = store.ticker();
      t.putIf('acct', bytes('third'), { absent: true });
      const [r] = await tickFor(t, 1);
      expect(r).to.include({ op: 'putIf', ok: true, applied: false });
      expect(r!.error).to.equal(undefined);
      await store.delete('acct');
      expect(await store.putIfAbsent('acct', bytes('again'))).to.equal(true);
    });

    it('compareAndSwap compares the exact bytes (undefined: absent), and never leaves a stale cache', async () => {
      expect(await store.compareAndSwap('gold', undefined, bytes('10'))).to.equal(true);
      expect(text(await store.get('gold'))).to.equal('10'); // cached (update policy)
      expect(await store.compareAndSwap('gold', bytes('9'), bytes('11'))).to.equal(false);
      expect(text(await store.get('gold')), 'a failed swap leaves the value, and the cache agrees').to.equal('10');
      expect(await store.compareAndSwap('gold', bytes('10'), bytes('11'))).to.equal(true);
      expect(text(await store.get('gold'))).to.equal('11');
      expect(await store.compareAndSwap('gold', undefined, bytes('0'))).to.equal(false);
      expect(await store.compareAndSwap('gold', bytes('11'), new Uint8Array(0))).to.equal(true);
      expect(await store.compareAndSwap('gold', new Uint8Array(0), bytes('x')), 'an empty value is a value').to.equal(true);
      expect(await store.compareAndSwap('gold', bytes('x\u0000'), bytes('y')), 'a longer value is not equal').to.equal(false);
      const t = store.ticker();
      t.putIf('gold', bytes('z'), { value: bytes('x') });
      t.putIf('gold', bytes('w'), { value: undefined });
      t.putIf('nogold', bytes('w'), { value: undefined });
      const rs = await tickFor(t, 3);
      expect(rs.map((r) => r.applied)).to.deep.equal([true, false, true]);
    });

    it('versions: every write gets a new one; ifVersion writes only on a match', async () => {
      expect(await store.version('v')).to.equal(undefined);
      await store.put('v', bytes('a'));
      const v1 = (await store.version('v'))!;
      expect(v1).to.be.a('number');
      const ok = await store.putVersioned('v', bytes('b'), v1);
      expect(ok.applied).to.equal(true);
      expect(ok.version).to.be.greaterThan(v1);
      expect(await store.version('v')).to.equal(ok.version);
      const stale = await store.putVersioned('v', bytes('c'), v1);
      expect(stale).to.deep.equal({ applied: false, version: ok.version });
      expect(text(await store.get('v'))).to.equal('b');
      expect(await store.putVersioned('absent', bytes('x'), v1), 'an absent key matches no version').to.deep.equal({ applied: false, version: undefined });
      const t = store.ticker();
      t.putIf('v', bytes('d'), { version: ok.version! });
      const [r] = await tickFor(t, 1);
      expect(r).to.include({ op: 'putIf', ok: true, applied: true });
      expect(r!.version).to.equal(await store.version('v'));
    });

    it('conditions see earlier writes of the same tick, in order', async () => {
      const t = store.ticker();
      t.put('k', bytes('1'));
      t.putIf('k', bytes('2'), { value: bytes('1') });
      t.putIf('k', bytes('3'), { value: bytes('1') });
      t.putIf('fresh', bytes('x'), { absent: true });
      t.putIf('fresh', bytes('y'), { absent: true });
      const rs = await tickFor(t, 5);
      expect(rs.slice(1).map((r) => r.applied)).to.deep.equal([true, false, true, false]);
      expect(text(await store.get('k'))).to.equal('2');
      expect(text(await store.get('fresh'))).to.equal('x');
    });

    it('concurrent compare-and-swap increments never lose an update', async () => {
      await store.put('counter', bytes('0'));
      const bump = async (): Promise<number> => {
        for (let tries = 1; ; tries++) {
          const cur = (await store.get('counter', { cacheOnRead: false }))!;
          if (await store.compareAndSwap('counter', cur, bytes(String(Number(text(cur)) + 1)))) return tries;
        }
      };
      const tries = await Promise.all(Array.from({ length: 40 }, bump));
      expect(text(await store.get('counter'))).to.equal('40');
      expect(tries.some((n) => n > 1), 'some swaps lost a race and retried').to.equal(true);
    });

    it('bad conditions are typed errors', async () => {
      const t = store.ticker();
      for (const c of [undefined, {}, { absent: false }, { version: 0 }, { version: 1.5 }, { version: '3' }]) {
        expect(() => t.putIf('k', bytes('v'), c as never), JSON.stringify(c)).to.throw(InvalidArgumentError);
      }
      expect(() => t.putIf('k', bytes('v'), { value: 'x' } as never)).to.throw(InvalidValueError);
      expect(() => t.putIf('k', 'v' as never, { absent: true })).to.throw(InvalidValueError);
      await rejects(() => store.putVersioned('k', bytes('v'), -1), InvalidArgumentError, 'putVersioned(-1)');
      expect(await store.exists('k')).to.equal(false);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Versions.

function versionRules({ target, open }: Ctx): void {
  describe('versions', () => {
    let store: Store;
    beforeEach(async () => { store = await open(); });

    it('per key: strictly increasing through every kind of write, across a delete and re-create (no ABA)', async () => {
      const seen: number[] = [];
      const now = async (): Promise<number> => { const v = (await store.version('k'))!; expect(v, 'present').to.be.a('number'); seen.push(v); return v; };
      await store.put('k', bytes('1'));
      const first = await now();
      await store.writeDurable('k', bytes('2')); await now();
      expect(await store.putVersioned('k', bytes('3'), seen.at(-1)!)).to.include({ applied: true }); await now();
      expect(await store.compareAndSwap('k', bytes('3'), bytes('4'))).to.equal(true); await now();
      await store.batch([{ type: 'put', key: 'k', value: bytes('5') }]); await now();
      await store.transaction((tx) => { tx.put('k', bytes('6')); }); await now();
      const t = store.ticker();
      t.put('k', bytes('7'));
      await tickFor(t, 1); await now();
      expect(await store.delete('k')).to.equal(true);
      expect(await store.version('k')).to.equal(undefined);
      await store.put('k', bytes('A'));
      await now();
      for (let i = 1; i < seen.length; i++) expect(seen[i], `write ${i}`).to.be.greaterThan(seen[i - 1]!);
      expect(await store.putVersioned('k', bytes('B'), first), 'a version from before the delete never matches the re-created key').to.deep.include({ applied: false });
      for (const v of seen.slice(0, -1)) expect((await store.putVersioned('k', bytes('B'), v)).applied, `old version ${v}`).to.equal(false);
      expect(text(await store.get('k'))).to.equal('A');
      // Through a transaction too: a delete and re-create between its read and its commit is a conflict.
      let attempts = 0;
      await store.transaction(async (tx) => {
        attempts++;
        const v = await tx.get('k');
        if (attempts === 1) { await store.delete('k'); await store.put('k', bytes('A')); }
        tx.put('k', bytes(`${text(v)}+`));
      });
      expect(attempts, 'the same bytes after a delete and re-create are still a change').to.equal(2);
    });

    it('the version a conditional write reports is the one version() and exists() then report', async () => {
      expect(await store.putIfAbsent('pv', bytes('1'))).to.equal(true);
      const v = (await store.version('pv'))!;
      const r = await store.putVersioned('pv', bytes('2'), v);
      expect(r.applied).to.equal(true);
      expect(await store.version('pv')).to.equal(r.version);
      const t = store.ticker();
      t.exists('pv');
      const [e] = await tickFor(t, 1);
      expect(e!.version).to.equal(r.version);
      expect(Number.isSafeInteger(r.version) && r.version! >= 1, 'a whole number >= 1').to.equal(true);
    });

    if (target.supports.globalOrder) {
      it('global order: versions increase across different keys in commit order', async () => {
        const versions: number[] = [];
        for (let i = 0; i < 20; i++) {
          const key = i % 3 === 0 ? buildKey(1, i) : `g:${i}`;
          if (i % 4 === 0) await store.batch([{ type: 'put', key, value: bytes('v') }]);
          else if (i % 4 === 1) await store.transaction((tx) => { tx.put(key, bytes('v')); });
          else await store.put(key, bytes('v'));
          versions.push((await store.version(key))!);
        }
        for (let i = 1; i < versions.length; i++) expect(versions[i], `write ${i}`).to.be.greaterThan(versions[i - 1]!);
        await store.batch([{ type: 'put', key: 'b:1', value: bytes('1') }, { type: 'put', key: 'b:2', value: bytes('2') }]);
        expect(Math.min((await store.version('b:1'))!, (await store.version('b:2'))!)).to.be.greaterThan(versions.at(-1)!);
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Transactions.

const enc = (items: string[]): Uint8Array => bytes(JSON.stringify(items));
const dec = (b: Uint8Array | undefined): string[] => (b ? JSON.parse(text(b)!) as string[] : []);

/** Moves `item` from one inventory to the other, if `from` has it. */
async function transfer(tx: Transaction, from: string, to: string, item: string): Promise<boolean> {
  const a = dec(await tx.get(from));
  const at = a.indexOf(item);
  if (at < 0) return false;
  const b = dec(await tx.get(to));
  a.splice(at, 1);
  b.push(item);
  tx.put(from, enc(a));
  tx.put(to, enc(b));
  return true;
}

function transactionRules({ open }: Ctx): void {
  describe('transactions', () => {
    let store: Store;
    beforeEach(async () => { store = await open(); });

    it('commit all their writes together and resolve to the closure\'s result', async () => {
      await store.put('inv:alice', enc(['sword', 'shield']));
      const moved = await store.transaction((tx) => transfer(tx, 'inv:alice', 'inv:bob', 'sword'));
      expect(moved).to.equal(true);
      expect(dec(await store.get('inv:alice'))).to.deep.equal(['shield']);
      expect(dec(await store.get('inv:bob'))).to.deep.equal(['sword']);
    });

    it('run from a ticker: the outcome arrives inside tick() — committed with its result, conflicted, or aborted by a throw', async () => {
      await store.put('inv:alice', enc(['sword']));
      const t = store.ticker();
      const h1 = t.transaction((tx) => transfer(tx, 'inv:alice', 'inv:bob', 'sword'));
      const h2 = t.transaction(async (tx) => { tx.put('inv:bob', enc([])); throw new Error('changed my mind'); });
      const h3 = t.transaction(async (tx) => {
        await tx.get('hot');
        await store.put('hot', bytes(String(Math.random()))); // someone else always gets there first
        tx.put('hot', bytes('mine'));
      }, { retries: 2 });
      await sleep(50);
      expect(t.poll(), 'nothing before a tick').to.equal(undefined);
      const got = await tickFor(t, 3);
      const by = new Map(got.map((r) => [r.handle, r]));
      expect([by.get(h1)!.ok, by.get(h1)!.applied, by.get(h1)!.txResult]).to.deep.equal([true, true, true]);
      expect(by.get(h2)!.ok).to.equal(false);
      expect(by.get(h2)!.error).to.be.instanceOf(TransactionAbortedError);
      expect((by.get(h2)!.error as TransactionAbortedError).cause).to.be.instanceOf(Error);
      expect([by.get(h3)!.ok, by.get(h3)!.applied]).to.deep.equal([true, false]);
      expect(dec(await store.get('inv:bob')), 'the aborted one wrote nothing').to.deep.equal(['sword']);
      expect(text(await store.get('hot'))).to.not.equal('mine');
    });

    it('a throw inside writes nothing, and is passed on; reads see the transaction\'s own writes and deletes', async () => {
      await store.put('x', bytes('1'));
      await store.put('gone', bytes('1'));
      let caught: unknown;
      try {
        await store.transaction(async (tx) => {
          tx.put('x', bytes('2'));
          tx.put('y', bytes('2'));
          tx.delete('gone');
          expect(text(await tx.get('x')), 'reads see the transaction\'s own writes').to.equal('2');
          expect(await tx.get('gone'), 'and its own deletes').to.equal(undefined);
          throw new Error('changed my mind');
        });
      } catch (e) { caught = e; }
      expect((caught as Error).message).to.equal('changed my mind');
      expect(text(await store.get('x'))).to.equal('1');
      expect(await store.exists('y')).to.equal(false);
      expect(await store.exists('gone')).to.equal(true);
    });

    it('a conflict runs the closure again, and the retry commits what it then read', async () => {
      await store.put('n', bytes('1'));
      let attempts = 0;
      const result = await store.transaction(async (tx) => {
        attempts++;
        const n = Number(text(await tx.get('n')));
        if (attempts === 1) await store.put('n', bytes('10')); // a concurrent write after our read
        tx.put('n', bytes(String(n + 1)));
        tx.put('seen', bytes(String(n)));
        return n;
      });
      expect(attempts).to.equal(2);
      expect(result, 'the committed attempt\'s result').to.equal(10);
      expect(text(await store.get('n'))).to.equal('11');
      expect(text(await store.get('seen'))).to.equal('10');
    });

    it('concurrent transfers over the same items never duplicate or lose one', async () => {
      const items = Array.from({ length: 12 }, (_, i) => `item${i}`);
      await store.put('inv:A', enc(items));
      await store.put('inv:B', enc([]));
      const runs = Array.from({ length: 60 }, (_, i) => {
        const item = items[i % items.length]!;
        const [from, to] = i % 2 === 0 ? ['inv:A', 'inv:B'] : ['inv:B', 'inv:A'];
        return store.transaction((tx) => transfer(tx, from!, to!, item), { retries: 100 });
      });
      const results = await Promise.all(runs);
      const a = dec(await store.get('inv:A'));
      const b = dec(await store.get('inv:B'));
      expect([...a, ...b].sort(), 'every item exactly once').to.deep.equal([...items].sort());
      expect(results.filter(Boolean).length).to.be.greaterThan(0);
    });

    it('reports a conflict after its retries, having written nothing', async () => {
      await store.put('hot', bytes('0'));
      const caught = await rejects(() => store.transaction(async (tx) => {
        const v = Number(text(await tx.get('hot')));
        await store.put('hot', bytes(String(v + 100))); // a concurrent writer, every attempt
        tx.put('hot', bytes(String(v + 1)));
        tx.put('side', bytes('effect'));
      }, { retries: 2 }), TransactionConflictError, 'always conflicting');
      expect((caught as TransactionConflictError).attempts).to.equal(3);
      expect(text(await store.get('hot'))).to.equal('300');
      expect(await store.exists('side')).to.equal(false);
      let once = 0;
      await rejects(() => store.transaction(async (tx) => {
        once++;
        await tx.get('hot');
        await store.put('hot', bytes('again'));
        tx.put('hot', bytes('mine'));
      }, { retries: 0 }), TransactionConflictError, 'retries: 0');
      expect(once, 'retries: 0 runs once').to.equal(1);
    });

    // Reads inside one attempt must belong to one state: a commit by someone
    // else between two of them must not let the closure see a state that
    // never existed (here a + b = 10 in every committed state).
    it('reads inside a transaction see a consistent state (or the attempt is retried)', async () => {
      await store.batch([{ type: 'put', key: 'a', value: bytes('10') }, { type: 'put', key: 'b', value: bytes('0') }]);
      let first = true;
      const sums: number[] = [];
      await store.transaction(async (tx) => {
        const a = Number(text(await tx.get('a')));
        if (first) {
          first = false;
          // Another client moves 4 from a to b, atomically, between our two reads.
          await store.batch([{ type: 'put', key: 'a', value: bytes('6') }, { type: 'put', key: 'b', value: bytes('4') }]);
        }
        const b = Number(text(await tx.get('b')));
        sums.push(a + b);
        if (a + b !== 10) throw new Error(`impossible state a=${a} b=${b}`);
      });
      expect(sums).to.deep.equal([10]);
    });

    it('a write-only transaction commits without conflicts; bad staged writes throw in the closure', async () => {
      await store.transaction((tx) => { tx.put('wo:1', bytes('1')); tx.delete('wo:none'); });
      expect(text(await store.get('wo:1'))).to.equal('1');
      await rejects(() => store.transaction((tx) => { tx.put('wo:2', bytes('2')); tx.put('', bytes('x')); }), InvalidKeyError, 'tx.put(empty key)');
      await rejects(() => store.transaction((tx) => { tx.put('wo:3', 'x' as never); }), InvalidValueError, 'tx.put(string value)');
      await rejects(() => store.transaction((tx) => { tx.put('wo:4', bytes('x'), { ttlMs: -1 }); }), InvalidArgumentError, 'tx.put(bad ttl)');
      await rejects(() => store.transaction(async (tx) => tx.get('')), InvalidKeyError, 'tx.get(empty key)');
      expect(keysOf(await store.scan({ prefix: 'wo:' }))).to.deep.equal(['wo:1']);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// flush and writeDurable.

function flushRules({ open }: Ctx): void {
  describe('flush and durable writes', () => {
    let store: Store;
    beforeEach(async () => { store = await open(); });

    it('flush() resolves after the writes before it; writeDurable and put({ durable }) acknowledge readable writes', async () => {
      const acks = Array.from({ length: 20 }, (_, i) => store.put(`f:${i}`, bytes(String(i))));
      await store.flush();
      await Promise.all(acks);
      await store.writeDurable('f:d', bytes('durable'));
      await store.put('f:p', bytes('forced'), { durable: true });
      expect(text(await store.get('f:d'))).to.equal('durable');
      expect(text(await store.get('f:p'))).to.equal('forced');
      expect((await store.scan({ prefix: 'f:' })).entries).to.have.length(22);
      expect(store.flushError).to.equal(undefined);
      const t = store.ticker();
      t.put('f:t', bytes('t'), { durable: true });
      t.flush();
      const rs = await tickFor(t, 2);
      expect(rs.map((r) => [r.op, r.ok])).to.deep.equal([['put', true], ['flush', true]]);
      await rejects(() => store.put('f:x', bytes('x'), { durable: 'yes' } as never), InvalidArgumentError, 'durable: "yes"');
      await rejects(() => store.writeDurable('f:x', bytes('x'), { durable: true } as never), InvalidArgumentError, 'writeDurable takes expiry options only');
      expect(await store.exists('f:x')).to.equal(false);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Lifecycle: close.

function lifecycleRules({ target, open, reopen }: Ctx): void {
  describe('close', () => {
    it('lets every op already issued finish (results still reach their tickers), then refuses new ones', async () => {
      const store = await open();
      const t = store.ticker();
      const hs = Array.from({ length: 20 }, (_, i) => t.put(`c:${i}`, bytes(String(i))));
      const pending = store.put('c:promise', bytes('p'));
      const closing = store.close();
      expect(store.isClosed).to.equal(true);
      expect(store.close(), 'idempotent: the same promise').to.equal(closing);
      await pending;
      const rs = await tickFor(t, 20);
      expect(rs.map((r) => r.handle)).to.deep.equal(hs);
      expect(rs.every((r) => r.ok)).to.equal(true);
      await closing;
      await rejects(() => store.get('c:0'), StoreClosedError, 'get after close');
      await rejects(() => store.put('c:0', bytes('x')), StoreClosedError, 'put after close');
      await rejects(() => store.transaction(() => undefined), StoreClosedError, 'transaction after close');
      await rejects(() => store.scan(), StoreClosedError, 'scan after close');
      await rejects(() => store.flush(), StoreClosedError, 'flush after close');
      expect(() => store.ticker()).to.throw(StoreClosedError);
      expect(() => t.put('c:0', bytes('x'))).to.throw(StoreClosedError);
      expect(() => t.watch({ key: 'c:0' }, () => undefined)).to.throw(StoreClosedError);
      if (target.supports.permanence) {
        const again = await reopen(store);
        const all = await dump(again);
        expect(all.size, 'every op issued before close was applied').to.equal(21);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// TTL.

function ttlRules({ target, open, reopen }: Ctx): void {
  describe('per-key TTL', () => {
    let store: Store;
    beforeEach(async () => { store = await open(); });

    it('an expired key reads as absent at once: get, exists, version, scan; putIfAbsent may claim it', async () => {
      await store.put('session:1', bytes('s1'), { ttlMs: 80 });
      await store.put('session:2', bytes('s2'));
      expect(text(await store.get('session:1'))).to.equal('s1');
      expect(text(await store.get('session:1')), 'read twice, still there').to.equal('s1');
      expect(await store.exists('session:1')).to.equal(true);
      await sleep(100);
      expect(await store.get('session:1'), 'never served from the memcache after its deadline').to.equal(undefined);
      expect(await store.exists('session:1')).to.equal(false);
      expect(await store.version('session:1')).to.equal(undefined);
      expect(keysOf(await store.scan({ prefix: 'session:' }))).to.deep.equal(['session:2']);
      expect(await store.delete('session:1'), 'deleting an expired key finds nothing').to.equal(false);
      expect(await store.putIfAbsent('session:1', bytes('again'), { ttlMs: 60_000 })).to.equal(true);
      expect(text(await store.get('session:1'))).to.equal('again');
    });

    it('expiresAt in the past is absent at once; a plain put clears a deadline; batches and transactions take TTLs too', async () => {
      await store.put('gone', bytes('x'), { expiresAt: Date.now() - 1 });
      expect(await store.get('gone')).to.equal(undefined);
      await store.put('k', bytes('short'), { ttlMs: 50 });
      await store.put('k', bytes('forever'));
      await store.batch([{ type: 'put', key: 'b1', value: bytes('1'), ttlMs: 50 }, { type: 'put', key: 'b2', value: bytes('2') }]);
      await store.transaction((tx) => { tx.put('t1', bytes('t'), { ttlMs: 50 }); });
      const t = store.ticker();
      t.put('tk', bytes('ticker'), { ttlMs: 50 });
      await tickFor(t, 1);
      await sleep(80);
      const got = await Promise.all(['k', 'b1', 'b2', 't1', 'tk'].map(async (key) => text(await store.get(key))));
      expect(got).to.deep.equal(['forever', undefined, '2', undefined, undefined]);
    });

    it('writeDurable, putIfAbsent and ticker putIf take TTLs; expired keys fail value and version conditions; tx.get reads them as absent', async () => {
      await store.writeDurable('wd', bytes('1'), { ttlMs: 60 });
      expect(await store.putIfAbsent('pia', bytes('1'), { ttlMs: 60 })).to.equal(true);
      const t = store.ticker();
      t.putIf('pif', bytes('1'), { absent: true }, { ttlMs: 60 });
      t.putIf('wd', bytes('2'), { value: bytes('1') }, { expiresAt: Date.now() + 60 });
      const rs = await tickFor(t, 2);
      expect(rs.map((r) => r.applied)).to.deep.equal([true, true]);
      const v = (await store.version('pif'))!;
      expect(text(await store.get('wd'))).to.equal('2');
      await sleep(90);
      for (const k of ['wd', 'pia', 'pif']) expect(await store.exists(k), k).to.equal(false);
      expect(await store.compareAndSwap('wd', bytes('2'), bytes('3')), 'an expired value matches nothing').to.equal(false);
      expect(await store.compareAndSwap('wd', undefined, bytes('3')), 'an expired key is absent').to.equal(true);
      expect((await store.putVersioned('pif', bytes('x'), v)).applied, 'an expired key has no version').to.equal(false);
      expect(await store.transaction(async (tx) => tx.get('pia'))).to.equal(undefined);
    });

    it('values with a deadline are never kept in the memcache', async () => {
      await store.put('ttl:c', bytes('v'), { ttlMs: 60_000 });
      await store.get('ttl:c');
      await store.get('ttl:c');
      expect(store.metrics().memcacheSize).to.equal(0);
      const t = store.ticker();
      t.get('ttl:c');
      const [r] = await tickFor(t, 1);
      expect(r).to.include({ found: true, fromCache: false });
      await store.put('ttl:c', bytes('plain'));
      await store.get('ttl:c');
      t.get('ttl:c');
      const [again] = await tickFor(t, 1);
      expect(again, 'permanent again: cacheable again').to.include({ found: true, fromCache: true });
    });

    it('within about a second an expired key\'s watchers hear "expire"; a key rewritten without a deadline is not swept', async () => {
      const changes: StoreChange[] = [];
      const t = store.ticker();
      t.watch({ prefix: 'buff:' }, (c) => changes.push(c));
      for (let i = 0; i < 20; i++) await store.put(`buff:${i}`, bytes('x'), { ttlMs: 100 });
      await store.put('buff:renewed', bytes('short'), { ttlMs: 100 });
      await store.put('buff:renewed', bytes('forever'));
      await tickUntil(t, () => changes.filter((c) => c.op === 'expire').length >= 20, 'the expiry sweep', 5000);
      await sleep(20);
      t.tick();
      const expired = changes.filter((c) => c.op === 'expire');
      expect(expired.map((c) => c.key).sort()).to.deep.equal([...Array(20)].map((_, i) => `buff:${i}`).sort());
      expect(expired.every((c) => c.value === undefined)).to.equal(true);
      expect(text(await store.get('buff:renewed')), 'a key rewritten without a deadline is not swept').to.equal('forever');
    });

    it('bad TTL options are typed errors and write nothing', async () => {
      const bad: unknown[] = [{ ttlMs: 0 }, { ttlMs: -5 }, { ttlMs: Number.NaN }, { ttlMs: '10' }, { expiresAt: 1.5 }, { expiresAt: -1 },
        { ttlMs: 10, expiresAt: Date.now() + 10 }, { ttl: 10 }, null];
      for (const o of bad) {
        expect(() => store.ticker().put('x', bytes('v'), o as never), JSON.stringify(o)).to.throw(InvalidArgumentError);
        await rejects(() => store.put('x', bytes('v'), o as never), InvalidArgumentError, `put ${JSON.stringify(o)}`);
        if (o === null) continue;
        await rejects(() => store.batch([{ type: 'put', key: 'x', value: bytes('v'), ...(o as object) }]), InvalidArgumentError, `batch ${JSON.stringify(o)}`);
      }
      expect(await store.exists('x')).to.equal(false);
    });

    if (target.supports.permanence) {
      it('a deadline survives a reopen: present before it, absent after, and still absent after another reopen', async () => {
        const expiresAt = Date.now() + 700;
        await store.put('session', bytes('live'), { expiresAt });
        await store.put('forever', bytes('yes'));
        const again = await reopen(store);
        expect(Date.now(), 'the reopen took too long for this test').to.be.below(expiresAt);
        expect(text(await again.get('session'))).to.equal('live');
        await sleep(expiresAt - Date.now() + 20);
        expect(await again.get('session')).to.equal(undefined);
        const third = await reopen(again);
        expect(await third.get('session'), 'still expired after another reopen').to.equal(undefined);
        expect(text(await third.get('forever'))).to.equal('yes');
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Permanence.

function permanenceRules({ target, open, reopen }: Ctx): void {
  describe('permanence', () => {
    it('a reopen keeps every acknowledged write of every kind, and every version; later writes get higher versions', async () => {
      const store = await open();
      await store.put('p:put', bytes('1'));
      await store.writeDurable('p:durable', bytes('2'));
      await store.put('p:forced', bytes('3'), { durable: true });
      expect(await store.putIfAbsent('p:pia', bytes('4'))).to.equal(true);
      expect(await store.compareAndSwap('p:cas', undefined, bytes('5'))).to.equal(true);
      await store.put('p:ver', bytes('x'));
      expect((await store.putVersioned('p:ver', bytes('6'), (await store.version('p:ver'))!)).applied).to.equal(true);
      await store.batch([{ type: 'put', key: 'p:batch', value: bytes('7') }, { type: 'delete', key: 'p:put' }, { type: 'put', key: 'p:put', value: bytes('1b') }]);
      await store.transaction((tx) => { tx.put('p:tx', bytes('8')); });
      await store.put('p:deleted', bytes('gone'));
      expect(await store.delete('p:deleted')).to.equal(true);
      await store.put('p:empty', new Uint8Array(0));
      const t = store.ticker();
      t.put('p:ticker', bytes('9'));
      t.putIf('p:tickerIf', bytes('10'), { absent: true });
      t.batch([{ type: 'put', key: 'p:tickerBatch', value: bytes('11') }]);
      await tickFor(t, 3);
      const before = await dump(store);
      const versions = new Map<string, number>();
      for (const k of before.keys()) versions.set(k, (await store.version(k))!);
      expect(before.size).to.equal(12);
      const again = await reopen(store);
      expect(await dump(again)).to.deep.equal(before);
      expect(await again.exists('p:deleted'), 'a delete is permanent too').to.equal(false);
      for (const [k, v] of versions) expect(await again.version(k), k).to.equal(v);
      const top = Math.max(...versions.values());
      await again.put('p:put', bytes('after'));
      expect(await again.version('p:put')).to.be.greaterThan(versions.get('p:put')!);
      if (target.supports.globalOrder) expect(await again.version('p:put'), 'global order: above every version before the reopen').to.be.greaterThan(top);
      await again.put('p:deleted', bytes('back'));
      expect(await again.version('p:deleted'), 're-created after a reopen: a new version').to.be.a('number');
      expect((await again.putVersioned('p:put', bytes('stale'), versions.get('p:put')!)).applied, 'no ABA across a reopen').to.equal(false);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Sharing: a second store on the same data.

function sharingRules({ target, open, peer }: Ctx): void {
  if (target.supports.sharedAcrossProcesses) {
    describe('shared data (a peer store on the same data)', () => {
      it('each store sees the other\'s writes, conditions and scans', async () => {
        const a = await open();
        const b = await peer(a);
        await a.put('s:k', bytes('from a'));
        expect(text(await b.get('s:k'))).to.equal('from a');
        expect(await b.putIfAbsent('s:k', bytes('from b'))).to.equal(false);
        expect((await b.putVersioned('s:k', bytes('b2'), (await a.version('s:k'))!)).applied).to.equal(true);
        expect(text(await a.get('s:k', { cacheOnRead: false }))).to.equal('b2');
        await b.batch([{ type: 'put', key: 's:b1', value: bytes('1') }, { type: 'delete', key: 's:k' }]);
        expect(keysOf(await a.scan({ prefix: 's:' }))).to.deep.equal(['s:b1']);
      });

      it('a transaction conflicts with the other store\'s concurrent write', async () => {
        const a = await open();
        const b = await peer(a);
        await a.put('s:n', bytes('1'));
        let attempts = 0;
        await a.transaction(async (tx) => {
          attempts++;
          const n = Number(text(await tx.get('s:n')));
          if (attempts === 1) await b.put('s:n', bytes('10'));
          tx.put('s:n', bytes(String(n + 1)));
        });
        expect(attempts).to.equal(2);
        expect(text(await b.get('s:n', { cacheOnRead: false }))).to.equal('11');
      });
    });
  } else {
    describe('exclusive data', () => {
      it('a second store on the same data is refused while the first is open, and the first is unharmed', async () => {
        const a = await open();
        await a.put('x:k', bytes('1'));
        await rejects(() => peer(a), StoreLockedError, 'a second open of the same data');
        expect(text(await a.get('x:k'))).to.equal('1');
        await a.put('x:k', bytes('2'));
        expect(text(await a.get('x:k'))).to.equal('2');
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Leases (fencing): pending until stores have `lease`.

function leaseRules({ open }: Ctx): void {
  describe('leases (fencing)', () => {
    let store: Store & Leasing;
    before(async function () {
      const probe = await open();
      const ready = hasLeases(probe);
      await probe.close();
      if (!ready) this.skip(); // the lease API is not there yet: the group is pending, visibly
    });
    beforeEach(async () => {
      const s = await open();
      if (!hasLeases(s)) throw new Error('store.lease disappeared');
      store = s;
    });

    it('a lease names its scope and deadline; writes fenced by a live lease apply', async () => {
      const before = Date.now();
      const lease = await store.lease('room:1', { ttlMs: 5_000 });
      expect(lease.scope).to.equal('room:1');
      expect(lease.expiresAt).to.be.within(before, Date.now() + 5_000 + 50);
      await store.put('room:1:state', bytes('v1'), { fence: lease });
      expect(text(await store.get('room:1:state'))).to.equal('v1');
      await lease.release();
    });

    it('after release, a write fenced by the lease fails with LeaseLostError and writes nothing', async () => {
      const lease = await store.lease('room:2', { ttlMs: 5_000 });
      await lease.release();
      let caught: unknown;
      try { await store.put('room:2:state', bytes('late'), { fence: lease }); } catch (e) { caught = e; }
      expect(isLeaseLost(caught), String(caught)).to.equal(true);
      expect(await store.exists('room:2:state')).to.equal(false);
    });

    it('after its deadline a lease is lost; renew() before it extends it', async () => {
      const short = await store.lease('room:3', { ttlMs: 100 });
      const renewed = await store.lease('room:4', { ttlMs: 150 });
      const firstDeadline = renewed.expiresAt;
      await sleep(60);
      await renewed.renew();
      expect(renewed.expiresAt, 'renew moves the deadline').to.be.greaterThan(firstDeadline);
      await waitFor(() => Date.now() > short.expiresAt + 50 && Date.now() > firstDeadline + 20, 'the deadlines', 2000);
      let caught: unknown;
      try { await store.put('room:3:state', bytes('late'), { fence: short }); } catch (e) { caught = e; }
      expect(isLeaseLost(caught), String(caught)).to.equal(true);
      expect(await store.exists('room:3:state')).to.equal(false);
      await store.put('room:4:state', bytes('ok'), { fence: renewed });
      expect(text(await store.get('room:4:state'))).to.equal('ok');
      await renewed.release();
    });

    it('a newer lease on the scope fences out the older one', async () => {
      const old = await store.lease('room:5', { ttlMs: 100 });
      await waitFor(() => Date.now() > old.expiresAt + 50, 'the old lease to lapse', 2000);
      const next = await store.lease('room:5', { ttlMs: 5_000 });
      expect(next.token).to.not.deep.equal(old.token);
      await store.put('room:5:state', bytes('new owner'), { fence: next });
      let caught: unknown;
      try { await store.put('room:5:state', bytes('old owner'), { fence: old }); } catch (e) { caught = e; }
      expect(isLeaseLost(caught), String(caught)).to.equal(true);
      expect(text(await store.get('room:5:state'))).to.equal('new owner');
      await next.release();
    });
  });
}
