import { expect } from 'chai';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  BackupWriteError, CrossTierError, InvalidArgumentError, InvalidConfigError, diskBackend, memoryBackend, openStore, tieredBackend,
  type Backend, type Store,
} from '../src/index.js';
import { faultyBackend, type FaultOp, type FaultyBackend } from '../src/testkit/faultyBackend.js';
import { bytes, sleep, text, tmpDir, waitFor } from './helpers.js';

/**
 * The tier router's semantics (issue 14), each over tiers wrapped in
 * faultyBackend: which tier each op reaches, the backup on the success path
 * and its repairs, merged listings, per-key call order over tiers that
 * complete out of order, and the atomic ops judged at the primary.
 */
let n = 0;
const name = (t: string): string => join(tmpdir(), `tickstore-tiers-${process.pid}-${Date.now()}-${++n}-${t}`);
const ROUTE = { ephemeral: ['session:', 'cache:'] };
const WRITES: FaultOp[] = ['put', 'delete', 'putIf', 'batch', 'txCommit'];
const READS: FaultOp[] = ['get', 'exists', 'scan', 'txRead'];

interface Rig { store: Store; primary: FaultyBackend; backup: FaultyBackend; ephemeral: FaultyBackend; names: { p: string; b: string; e: string } }

async function rig(names = { p: name('p'), b: name('b'), e: name('e') }): Promise<Rig> {
  const primary = faultyBackend(memoryBackend({ dir: names.p }));
  const backup = faultyBackend(memoryBackend({ dir: names.b }));
  const ephemeral = faultyBackend(memoryBackend({ dir: names.e }));
  const store = await openStore({ backend: tieredBackend({ primary, backup, ephemeral, route: ROUTE }) });
  return { store, primary, backup, ephemeral, names };
}

/** A tier's own view of a key, asked directly (not through the router). */
function tierGet(b: Backend, key: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => b.get(key, (r, e) => (e ? reject(e) : resolve(r.found ? text(r.value!) : undefined))));
}
const opsOf = (f: FaultyBackend, ops: FaultOp[]): string[] => f.calls.filter((c) => ops.includes(c.op)).map((c) => `${c.op} ${c.keys.join(',')}`);

/** Every key and value through full scans of `limit`-sized pages. */
async function pages(store: Store, limit: number, extra: { prefix?: string; reverse?: boolean } = {}): Promise<{ keys: string[]; pages: number; lastCursor: string | undefined }> {
  const keys: string[] = [];
  let cursor: string | undefined;
  let count = 0;
  for (;;) {
    const page = await store.scan({ limit, ...extra, ...(cursor ? { cursor } : {}) });
    count++;
    keys.push(...page.entries.map((e) => e.key));
    if (!page.cursor) return { keys, pages: count, lastCursor: page.cursor };
    cursor = page.cursor;
    if (count > 1000) throw new Error('pagination does not end');
  }
}

async function settled<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try { return { ok: true, value: await p }; } catch (error) { return { ok: false, error }; }
}

describe('tiers: tieredBackend', function () {
  this.timeout(60_000);
  const stores: Store[] = [];
  afterEach(async () => { await Promise.all(stores.splice(0).map((s) => s.close().catch(() => {}))); });
  const track = async (r: Promise<Rig>): Promise<Rig> => { const x = await r; stores.push(x.store); return x; };

  describe('options and factories', () => {
    it('refuses bad tier options with InvalidConfigError', () => {
      const mem = memoryBackend({ dir: name('x') });
      const bad: [string, () => unknown][] = [
        ['no options', () => tieredBackend(undefined as never)],
        ['no primary', () => tieredBackend({} as never)],
        ['a primary that is not a factory', () => tieredBackend({ primary: {} as never })],
        ['a backup that is a string', () => tieredBackend({ primary: mem, backup: 'disk' as never })],
        ['an ephemeral tier without a route', () => tieredBackend({ primary: mem, ephemeral: mem })],
        ['a route without an ephemeral tier', () => tieredBackend({ primary: mem, route: ROUTE })],
        ['an empty prefix list', () => tieredBackend({ primary: mem, ephemeral: mem, route: { ephemeral: [] } })],
        ['an empty prefix', () => tieredBackend({ primary: mem, ephemeral: mem, route: { ephemeral: [''] } })],
        ['a route that is a number', () => tieredBackend({ primary: mem, ephemeral: mem, route: 7 as never })],
        ['an unknown option', () => tieredBackend({ primary: mem, replicas: 2 } as never)],
        ['diskBackend without dir', () => diskBackend({} as never)],
        ['diskBackend with an unknown option', () => diskBackend({ dir: 'x', sync: true } as never)],
        ['memoryBackend with a NUL in dir', () => memoryBackend({ dir: 'a\0b' })],
      ];
      for (const [what, make] of bad) expect(make, what).to.throw(InvalidConfigError);
    });

    it('openStore takes diskBackend({ dir }) and memoryBackend({ dir }); a reopen sees the data', async () => {
      const dir = tmpDir('tier-diskfactory');
      let s = await openStore({ backend: diskBackend({ dir }) });
      await s.put('k', bytes('v'));
      await s.close();
      s = await openStore({ dir });
      expect(text(await s.get('k'))).to.equal('v');
      await s.close();
      const mem = name('mem');
      s = await openStore({ backend: memoryBackend({ dir: mem }) });
      await s.put('k', bytes('m'));
      await s.close();
      s = await openStore({ dir: mem, backend: 'memory' });
      expect(text(await s.get('k'))).to.equal('m');
      await s.close();
    });

    it('a tier that fails to open fails the open and closes the tiers already open (a retry opens)', async () => {
      const names = { p: name('p'), b: name('b'), e: name('e') };
      const holder = await openStore({ dir: names.b, backend: 'memory' }); // holds the backup's name
      let err: unknown;
      try { await rig(names); } catch (e) { err = e; }
      expect((err as Error)?.name).to.equal('StoreLockedError');
      await holder.close();
      const r = await track(rig(names)); // the primary was released
      await r.store.put('k', bytes('1'));
    });
  });

  describe('1. each class of key lives only in its tiers', () => {
    it('a durable write reaches primary and backup, never the ephemeral tier; an ephemeral one only the ephemeral tier', async () => {
      const r = await track(rig());
      await r.store.put('player:1', bytes('p1'));
      await r.store.batch([{ type: 'put', key: 'player:2', value: bytes('p2') }, { type: 'delete', key: 'player:3' }]);
      await r.store.putIfAbsent('player:4', bytes('p4'));
      await r.store.transaction((tx) => { tx.put('player:5', bytes('p5')); });
      await r.store.delete('player:1');
      expect(opsOf(r.ephemeral, WRITES), 'ephemeral tier after durable writes').to.deep.equal([]);
      await r.store.put('session:1', bytes('s1'));
      await r.store.batch([{ type: 'put', key: 'session:2', value: bytes('s2') }, { type: 'put', key: 'cache:x', value: bytes('c') }]);
      await r.store.putIfAbsent('session:3', bytes('s3'));
      await r.store.transaction((tx) => { tx.put('session:4', bytes('s4')); });
      await r.store.delete('session:1');
      expect(opsOf(r.primary, WRITES)).to.deep.equal(['put player:1', 'batch player:2,player:3', 'putIf player:4', 'txCommit player:5', 'delete player:1']);
      expect(opsOf(r.backup, WRITES)).to.deep.equal(['put player:1', 'batch player:2,player:3', 'put player:4', 'batch player:5', 'delete player:1']);
      expect(opsOf(r.ephemeral, WRITES)).to.deep.equal(['put session:1', 'batch session:2,cache:x', 'putIf session:3', 'txCommit session:4', 'delete session:1']);
      expect(await tierGet(r.primary.opened!, 'session:2')).to.equal(undefined);
      expect(await tierGet(r.backup.opened!, 'session:2')).to.equal(undefined);
      expect(await tierGet(r.ephemeral.opened!, 'player:2')).to.equal(undefined);
      expect(await tierGet(r.backup.opened!, 'player:5')).to.equal('p5');
      expect(text(await r.store.get('session:2'))).to.equal('s2');
    });
  });

  describe('2. the backup is on the success path', () => {
    it('a durable write is acknowledged only once the backup has it too', async () => {
      const r = await track(rig());
      const gate = r.backup.hold({ op: 'put', key: 'player:1' });
      let acked = false;
      const p = r.store.put('player:1', bytes('v')).then(() => { acked = true; });
      await gate.whenHeld(1);
      await sleep(50);
      expect(acked, 'acknowledged while the backup still waits').to.equal(false);
      expect(await tierGet(r.primary.opened!, 'player:1'), 'the primary has it meanwhile').to.equal('v');
      gate.release();
      await p;
      expect(await tierGet(r.backup.opened!, 'player:1')).to.equal('v');
    });

    it('a backup failure is a BackupWriteError although the primary holds the write; a repair makes the backup converge', async () => {
      const r = await track(rig());
      r.backup.fail({ op: 'put', key: 'player:1' }, { times: 3 });
      const out = await settled(r.store.put('player:1', bytes('v1')));
      expect(out.ok).to.equal(false);
      const err = (out as { error: unknown }).error;
      expect(err).to.be.instanceOf(BackupWriteError);
      expect((err as BackupWriteError).code).to.equal('BACKUP_FAILED');
      expect((err as BackupWriteError).keys).to.deep.equal(['player:1']);
      expect(text(await r.store.get('player:1')), 'reads see the primary').to.equal('v1');
      expect(r.store.metrics().tiers!.backupFailures).to.equal(1);
      expect(r.store.metrics().tiers!.repairsPending).to.equal(1);
      expect(r.store.health().problems.map((p) => p.kind)).to.deep.equal(['backup-behind']);
      // The repair itself fails twice more (backing off), then converges.
      await waitFor(() => r.store.metrics().tiers!.repairsPending === 0, 'the repair', 20_000);
      expect(r.store.health().ok).to.equal(true);
      expect(await tierGet(r.backup.opened!, 'player:1')).to.equal('v1');
      expect(r.store.metrics().tiers!.repairsDone).to.be.greaterThan(0);
    });

    it('a repair copies the deadline, and a delete the backup failed is repaired as a delete', async () => {
      const r = await track(rig());
      const deadline = Date.now() + 3_600_000;
      r.backup.fail({ op: 'put', key: 'player:t' }, { times: 1 });
      expect((await settled(r.store.put('player:t', bytes('t'), { expiresAt: deadline }))).ok).to.equal(false);
      await r.store.put('player:d', bytes('d'));
      r.backup.fail({ op: 'delete', key: 'player:d' }, { times: 1 });
      const del = await settled(r.store.delete('player:d'));
      expect(del.ok).to.equal(false);
      expect((del as { error: unknown }).error).to.be.instanceOf(BackupWriteError);
      expect(await r.store.get('player:d')).to.equal(undefined);
      await waitFor(() => r.store.metrics().tiers!.repairsPending === 0, 'the repairs', 20_000);
      expect(await tierGet(r.backup.opened!, 'player:d')).to.equal(undefined);
      const entry = await new Promise<{ expiresAt?: number } | undefined>((resolve, reject) => r.backup.opened!.scan(
        { gte: 'player:t', lte: 'player:t', limit: 1, reverse: false }, (rep, e) => (e ? reject(e) : resolve(rep.entries?.[0]))));
      expect(entry?.expiresAt).to.equal(deadline);
    });

    it('deletes remove from both tiers', async () => {
      const r = await track(rig());
      await r.store.put('player:1', bytes('v'));
      await r.store.delete('player:1');
      expect(await tierGet(r.primary.opened!, 'player:1')).to.equal(undefined);
      expect(await tierGet(r.backup.opened!, 'player:1')).to.equal(undefined);
    });

    it('a primary failure writes nothing anywhere: the backup is never asked', async () => {
      const r = await track(rig());
      r.primary.fail({ op: 'put', key: 'player:1' }, { times: 1 });
      expect((await settled(r.store.put('player:1', bytes('v')))).ok).to.equal(false);
      expect(opsOf(r.backup, WRITES)).to.deep.equal([]);
      expect(r.store.metrics().tiers!.repairsPending).to.equal(0);
    });
  });

  describe('3. reads never consult the backup', () => {
    it('gets, exists, scans, transactions and watches read primary and ephemeral only, and work with every backup read failing', async () => {
      const r = await track(rig());
      r.backup.fail({ op: READS });
      await r.store.put('player:1', bytes('p'));
      await r.store.put('session:1', bytes('s'));
      expect(text(await r.store.get('player:1'))).to.equal('p');
      expect(await r.store.exists('session:1')).to.equal(true);
      expect((await r.store.scan({})).entries.map((e) => e.key)).to.deep.equal(['player:1', 'session:1']);
      await r.store.transaction(async (tx) => { const v = await tx.get('player:1'); tx.put('player:1', bytes(`${text(v)}!`)); });
      expect(text(await r.store.get('player:1'))).to.equal('p!');
      expect(opsOf(r.backup, READS)).to.deep.equal([]);
    });
  });

  describe('4. listings merge primary and ephemeral in key order', () => {
    /** Stale ephemeral-class copies in the primary (an earlier configuration) and durable-class decoys in the ephemeral tier. */
    async function seeded(): Promise<{ r: Rig; live: string[] }> {
      const names = { p: name('p'), b: name('b'), e: name('e') };
      const p = await openStore({ dir: names.p, backend: 'memory' });
      for (const k of ['session:a', 'session:z', 'cache:old']) await p.put(k, bytes('STALE'));
      await p.close();
      const e = await openStore({ dir: names.e, backend: 'memory' });
      for (const k of ['decoy:1', 'player:decoy', 'zz']) await e.put(k, bytes('DECOY'));
      await e.close();
      const r = await track(rig(names));
      const live: string[] = [];
      for (let i = 0; i < 12; i++) { const k = `player:${String(i).padStart(2, '0')}`; await r.store.put(k, bytes('live')); live.push(k); }
      for (let i = 0; i < 9; i++) { const k = `session:${String(i).padStart(2, '0')}`; await r.store.put(k, bytes('live')); live.push(k); }
      for (const k of ['cache:1', 'a', 'é', '\ud83d\ude00', 'world']) { await r.store.put(k, bytes('live')); live.push(k); }
      live.sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      return { r, live };
    }

    it('every live key exactly once, in UTF-8 order, no stale copy and no decoy, at every page size, both directions', async () => {
      const { r, live } = await seeded();
      for (const limit of [1, 2, 3, 5, 7, 100]) {
        const fwd = await pages(r.store, limit);
        expect(fwd.keys, `limit ${limit}`).to.deep.equal(live);
        expect(fwd.pages, `limit ${limit}: no page past the last`).to.equal(Math.max(1, Math.ceil(live.length / limit)));
        const rev = await pages(r.store, limit, { reverse: true });
        expect(rev.keys, `reverse, limit ${limit}`).to.deep.equal([...live].reverse());
      }
      const all = await r.store.scan({ limit: 1000 });
      expect(all.entries.every((e) => text(e.value) === 'live')).to.equal(true);
      expect(all.cursor, 'no cursor after the last page').to.equal(undefined);
      expect((await pages(r.store, 2, { prefix: 'session:' })).keys).to.deep.equal(live.filter((k) => k.startsWith('session:')));
      expect(await r.store.get('session:z'), 'a stale primary copy never reads').to.equal(undefined);
      expect(await r.store.get('player:decoy'), 'a decoy never reads').to.equal(undefined);
    });

    it('an invalid cursor is InvalidArgumentError', async () => {
      const { r } = await seeded();
      let err: unknown;
      try { await r.store.scan({ limit: 2, cursor: 'not-a-cursor!' }); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(InvalidArgumentError);
    });

    it('an opaque route function merges the same way', async () => {
      const names = { p: name('p'), b: name('b'), e: name('e') };
      const store = await openStore({ backend: tieredBackend({
        primary: memoryBackend({ dir: names.p }), ephemeral: memoryBackend({ dir: names.e }),
        route: (k) => (k.endsWith('!') ? 'ephemeral' : 'durable'),
      }) });
      stores.push(store);
      const keys = ['a', 'a!', 'b', 'b!', 'c!', 'd'];
      for (const k of keys) await store.put(k, bytes(k));
      expect((await pages(store, 1)).keys).to.deep.equal(keys);
      expect((await pages(store, 4, { reverse: true })).keys).to.deep.equal([...keys].reverse());
    });
  });

  describe('5. an ephemeral listing failure breaks only the scans that reach it', () => {
    it('scans of ranges the prefix route sends there fail; durable-only ranges still scan', async () => {
      const r = await track(rig());
      await r.store.put('player:1', bytes('p'));
      await r.store.put('session:1', bytes('s'));
      r.ephemeral.fail({ op: 'scan' });
      for (const spec of [{}, { prefix: 'session:' }, { prefix: 'sess' }, { gte: 'r', lt: 't' }]) {
        const out = await settled(r.store.scan(spec));
        expect(out.ok, `scan ${JSON.stringify(spec)} reaches the ephemeral tier`).to.equal(false);
        expect((out as { error: unknown }).error).to.have.property('code', 'IO_ERROR');
      }
      for (const spec of [{ prefix: 'player:' }, { gte: 'a', lt: 'c' }, { gte: 'session;', limit: 5 }, { prefix: 'sesst' }]) {
        const out = await settled(r.store.scan(spec));
        expect(out.ok, `scan ${JSON.stringify(spec)} is durable-only`).to.equal(true);
      }
      expect(((await r.store.scan({ prefix: 'player:' })).entries).map((e) => e.key)).to.deep.equal(['player:1']);
    });
  });

  describe('6. per-key call order over tiers that complete out of order', () => {
    it('write(old) then write(new), old delayed in every tier: new stays, old resolves without error, in call order', async () => {
      const r = await track(rig());
      const old = bytes('old');
      for (const t of [r.primary, r.backup]) t.delay({ op: 'put', value: old }, 150);
      r.ephemeral.delay({ op: 'put', value: old }, 150);
      const order: string[] = [];
      const a = r.store.put('player:k', old).then(() => order.push('old'));
      const b = r.store.put('player:k', bytes('new')).then(() => order.push('new'));
      const c = r.store.put('session:k', old).then(() => order.push('eold'));
      const d = r.store.put('session:k', bytes('enew')).then(() => order.push('enew'));
      await Promise.all([a, b, c, d]);
      expect(order).to.deep.equal(['old', 'new', 'eold', 'enew']);
      expect(await tierGet(r.primary.opened!, 'player:k')).to.equal('new');
      expect(await tierGet(r.backup.opened!, 'player:k')).to.equal('new');
      expect(await tierGet(r.ephemeral.opened!, 'session:k')).to.equal('enew');
    });

    it('write(old) then write(new) with the tier answering them in reverse: new stays', async () => {
      const r = await track(rig());
      const gate = r.backup.hold({ op: 'put', key: 'player:k' });
      const a = settled(r.store.put('player:k', bytes('old')));
      const b = settled(r.store.put('player:k', bytes('new')));
      await gate.whenHeld(1);
      await sleep(30); // new would be held too if it had been sent alongside
      const heldBoth = gate.held;
      gate.release({ reversed: true });
      expect([(await a).ok, (await b).ok]).to.deep.equal([true, true]);
      expect(heldBoth, 'the backup had one op of the key at a time').to.equal(1);
      expect(await tierGet(r.backup.opened!, 'player:k')).to.equal('new');
    });

    it('delete then write, the delete delayed: the written value stays', async () => {
      const r = await track(rig());
      await r.store.put('player:k', bytes('first'));
      for (const t of [r.primary, r.backup]) t.delay({ op: 'delete', key: 'player:k' }, 150);
      const del = r.store.delete('player:k');
      const put = r.store.put('player:k', bytes('written'));
      await Promise.all([del, put]);
      expect(text(await r.store.get('player:k'))).to.equal('written');
      expect(await tierGet(r.primary.opened!, 'player:k')).to.equal('written');
      expect(await tierGet(r.backup.opened!, 'player:k')).to.equal('written');
    });

    it('a newer write that fails on the backup still supersedes an older pending one: the backup converges to it', async () => {
      const r = await track(rig());
      const old = bytes('old');
      r.backup.delay({ op: 'put', value: old }, 150);
      r.backup.fail({ op: 'put', value: bytes('new') }, { times: 1 });
      const a = settled(r.store.put('player:k', old));
      const b = settled(r.store.put('player:k', bytes('new')));
      expect((await a).ok, 'old resolves without error').to.equal(true);
      const nb = await b;
      expect(nb.ok).to.equal(false);
      expect((nb as { error: unknown }).error).to.be.instanceOf(BackupWriteError);
      expect(text(await r.store.get('player:k'))).to.equal('new');
      await waitFor(() => r.store.metrics().tiers!.repairsPending === 0, 'the repair', 20_000);
      expect(await tierGet(r.backup.opened!, 'player:k')).to.equal('new');
    });

    it('a GET, a condition and a scan issued after a write that waits its turn see it', async () => {
      const r = await track(rig());
      r.primary.delay({ op: 'put', value: bytes('1') }, 100);
      const t = r.store.ticker();
      t.put('player:k', bytes('1'));
      t.put('player:k', bytes('2'));
      const g = r.store.get('player:k');
      const cas = r.store.compareAndSwap('player:k', bytes('2'), bytes('3'));
      const s = r.store.scan({ prefix: 'player:' });
      expect(text(await g)).to.equal('2');
      expect(await cas).to.equal(true);
      expect((await s).entries.map((e) => text(e.value))).to.deep.equal(['3']);
      await sleep(150); // past the delayed write: it took effect first, not last
      expect(text(await r.store.get('player:k'))).to.equal('3');
      expect(await tierGet(r.primary.opened!, 'player:k')).to.equal('3');
      t.dispose();
    });
  });

  describe('8. atomic ops are judged at the primary; cross-tier ones are refused', () => {
    it('a batch or a transaction naming durable and ephemeral keys is a CrossTierError and writes nothing', async () => {
      const r = await track(rig());
      let err: unknown;
      try { await r.store.batch([{ type: 'put', key: 'player:1', value: bytes('p') }, { type: 'put', key: 'session:1', value: bytes('s') }]); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(CrossTierError);
      expect((err as CrossTierError).code).to.equal('CROSS_TIER');
      err = undefined;
      try { await r.store.transaction((tx) => { tx.put('player:1', bytes('p')); tx.put('cache:1', bytes('c')); }); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(CrossTierError);
      err = undefined;
      try { await r.store.transaction(async (tx) => { await tx.get('player:1'); await tx.get('session:1'); }); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(CrossTierError);
      // (a read-only commit names no key: it writes nothing)
      for (const t of [r.primary, r.backup, r.ephemeral]) expect(opsOf(t, WRITES).filter((o) => o !== 'txCommit ')).to.deep.equal([]);
      expect(await r.store.get('player:1')).to.equal(undefined);
    });

    it('a putIf the primary refuses never reaches the backup; one it applies does', async () => {
      const r = await track(rig());
      await r.store.put('player:1', bytes('a'));
      r.backup.resetCalls();
      expect(await r.store.putIfAbsent('player:1', bytes('b'))).to.equal(false);
      expect(await r.store.compareAndSwap('player:1', bytes('x'), bytes('c'))).to.equal(false);
      expect(opsOf(r.backup, WRITES)).to.deep.equal([]);
      expect(await r.store.compareAndSwap('player:1', bytes('a'), bytes('c'))).to.equal(true);
      expect(opsOf(r.backup, WRITES)).to.deep.equal(['put player:1']);
      expect(await tierGet(r.backup.opened!, 'player:1')).to.equal('c');
    });

    it('a fenced write of an ephemeral key is refused (its lease lives in the primary); a fenced durable write is fenced there', async () => {
      const r = await track(rig());
      const lease = await r.store.lease('owner:1', { ttlMs: 5000 });
      let err: unknown;
      try { await r.store.put('session:1', bytes('s'), { fence: lease }); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(CrossTierError);
      await r.store.put('player:1', bytes('p'), { fence: lease });
      expect(await tierGet(r.backup.opened!, 'player:1')).to.equal('p');
      await lease.release();
      err = undefined;
      try { await r.store.put('player:1', bytes('late'), { fence: lease }); } catch (e) { err = e; }
      expect((err as Error)?.name).to.equal('LeaseLostError');
      expect(await tierGet(r.backup.opened!, 'player:1')).to.equal('p');
    });

    it('a route that throws or answers garbage is InvalidArgumentError at the call, nothing written', async () => {
      const names = { p: name('p'), e: name('e') };
      const store = await openStore({ backend: tieredBackend({
        primary: memoryBackend({ dir: names.p }), ephemeral: memoryBackend({ dir: names.e }),
        route: (k) => { if (k === 'boom') throw new Error('no'); return (k === 'odd' ? 'other' : 'durable') as 'durable'; },
      }) });
      stores.push(store);
      for (const k of ['boom', 'odd']) {
        let err: unknown;
        try { await store.put(k, bytes('v')); } catch (e) { err = e; }
        expect(err, k).to.be.instanceOf(InvalidArgumentError);
      }
      expect((await store.scan({})).entries).to.deep.equal([]);
    });
  });

  describe('the Backend contract, at the seam', () => {
    it('a reply handler that throws does not stop the replies behind it (its error surfaces on its own)', async () => {
      const backup = faultyBackend(memoryBackend({ dir: name('b') }));
      const engine = await tieredBackend({ primary: memoryBackend({ dir: name('p') }), backup }).open({
        syncMode: 'per-key', compactRatio: 0.5, compactMinBytes: 1 << 24, syncIntervalMs: 50, flushPolicy: { mode: 'immediate' } });
      const gate = backup.hold({ op: 'put' });
      const others = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      const caught: unknown[] = [];
      process.on('uncaughtException', (e) => caught.push(e));
      try {
        const order: string[] = [];
        engine.put('a', bytes('1'), {}, () => { order.push('put'); throw new Error('handler bug'); });
        const got = new Promise<void>((resolve) => engine.get('b', () => { order.push('get'); resolve(); }));
        await gate.whenHeld(1);
        gate.release();
        await got;
        await sleep(10);
        expect(order).to.deep.equal(['put', 'get']);
        expect(caught.map((e) => (e as Error).message)).to.deep.equal(['handler bug']);
      } finally {
        process.removeAllListeners('uncaughtException');
        for (const l of others) process.on('uncaughtException', l);
        await engine.close();
      }
    });
  });

  describe('close', () => {
    it('finishes what was submitted (a held backup write) before closing the tiers', async () => {
      const r = await track(rig());
      const gate = r.backup.hold({ op: 'put' });
      const p = settled(r.store.put('player:1', bytes('v')));
      await gate.whenHeld(1);
      const closing = r.store.close();
      await sleep(30);
      gate.release();
      await closing;
      expect((await p).ok).to.equal(true);
      const b = await openStore({ dir: r.names.b, backend: 'memory' });
      expect(text(await b.get('player:1'))).to.equal('v');
      await b.close();
    });
  });
});


describe('tiers: the example (examples/tiers/tiered.ts, shown in the README)', () => {
  it('saves a player to primary and backup, keeps sessions in memory, reopens with the player', async () => {
    const { openTieredStore, savePlayer } = await import('../examples/tiers/tiered.js');
    const base = tmpDir('tier-example');
    let store = await openTieredStore(base);
    expect(await savePlayer(store, 'player:42', bytes('{"gold":10}'))).to.equal('saved');
    await store.put('session:42', bytes('s'));
    expect((await store.scan({})).entries.map((e) => e.key)).to.deep.equal(['player:42', 'session:42']);
    await store.close();
    const backup = await openStore({ dir: `${base}/backup` });
    expect(text(await backup.get('player:42'))).to.equal('{"gold":10}');
    expect(await backup.get('session:42')).to.equal(undefined);
    await backup.close();
    store = await openTieredStore(base);
    expect(text(await store.get('player:42'))).to.equal('{"gold":10}');
    await store.close();
  });
});
