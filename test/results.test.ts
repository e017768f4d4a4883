import { expect } from 'chai';
import { openStore, type Store, type StoreResult, type SyncMode, type WritePolicy } from '../src/index.js';
import { bytes, sleep, text, tickFor, tmpDir, waitFor, BACKENDS } from './helpers.js';

const modes: SyncMode[] = ['per-key', 'async-batch'];
const policies: WritePolicy[] = ['evict', 'update'];

for (const backend of BACKENDS) describe(`[${backend} backend]`, () => {
  for (const syncMode of modes) for (const writePolicy of policies) {
    describe(`result rules (${syncMode}, ${writePolicy})`, () => {
      let store: Store;
      beforeEach(async () => { store = await openStore({ backend, dir: tmpDir(), syncMode, writePolicy, syncIntervalMs: 20 }); });
      afterEach(() => store.close());

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
        if (syncMode === 'async-batch') await waitFor(() => store.metrics().replicaLag === 0, 'replica');
        const v = await store.get('e');
        expect(v).to.be.instanceOf(Uint8Array);
        expect(v!.length).to.equal(0);
        expect(await store.delete('e')).to.equal(true);
        expect(await store.delete('e')).to.equal(false);
      });

      it('a memcache hit gets its own handle and a fromCache result at the next tick, with no disk read', async () => {
        await store.put('hot', bytes('fire'));
        if (syncMode === 'async-batch') await waitFor(() => store.metrics().replicaLag === 0, 'replica');
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
        if (syncMode === 'async-batch') await waitFor(() => store.metrics().replicaLag === 0, 'replica');
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
        if (syncMode === 'async-batch') await waitFor(() => store.metrics().replicaLag === 0, 'replica');
        expect(text(await store.get('w'))).to.equal('one');
        expect(store.metrics().memcacheSize).to.equal(1);
        await store.put('w', bytes('two'));
        if (writePolicy === 'evict') expect(store.metrics().memcacheSize, 'evicted').to.equal(0);
        else expect(store.metrics().memcacheSize, 'overwritten in place').to.equal(1);
        if (syncMode === 'async-batch') await waitFor(() => store.metrics().replicaLag === 0, 'replica');
        const hits = store.metrics().cacheHits;
        expect(text(await store.get('w'))).to.equal('two');
        expect(store.metrics().cacheHits - hits).to.equal(writePolicy === 'update' ? 1 : 0);
        await store.delete('w');
        expect(store.metrics().memcacheSize).to.equal(0);
        if (syncMode === 'async-batch') await waitFor(() => store.metrics().replicaLag === 0, 'replica');
        expect(await store.get('w')).to.equal(undefined);
      });
    });
  }

  describe('read-after-write and lag', () => {
    it('per-key: a GET issued right after a PUT in the same tick sees it, and never a stale cached copy', async () => {
      const store = await openStore({ backend, dir: tmpDir(), syncMode: 'per-key' });
      try {
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
      } finally { await store.close(); }
    });

    it('async-batch: reads lag the write, then converge; a lagging read is not cached', async () => {
      const store = await openStore({ backend, dir: tmpDir(), syncMode: 'async-batch', syncIntervalMs: 300 });
      try {
        await store.put('lag', bytes('old'));
        await waitFor(() => store.metrics().replicaLag === 0, 'first sync');
        await store.put('lag', bytes('new'));
        expect(store.metrics().replicaLag).to.be.greaterThan(0);
        expect(text(await store.get('lag')), 'lags').to.equal('old');
        expect(store.metrics().memcacheSize, 'stale read not cached').to.equal(0);
        await waitFor(() => store.metrics().replicaLag === 0, 'replica to catch up', 5000);
        expect(text(await store.get('lag')), 'converged').to.equal('new');
        expect(store.metrics().readCount).to.equal(store.metrics().writeCount);
      } finally { await store.close(); }
    });

    it('switching async-batch to per-key catches the replica up at once', async () => {
      const store = await openStore({ backend, dir: tmpDir(), syncMode: 'async-batch', syncIntervalMs: 10_000 });
      try {
        await store.put('s', bytes('1'));
        expect(store.metrics().replicaLag).to.equal(1);
        await store.configure({ syncMode: 'per-key' });
        expect(text(await store.get('s'))).to.equal('1');
        expect(store.metrics().replicaLag).to.equal(0);
      } finally { await store.close(); }
    });

    it('delivers a disposed ticker nothing, and other tickers are unaffected', async () => {
      const store = await openStore({ backend, dir: tmpDir() });
      try {
        const gone = store.ticker();
        const live = store.ticker();
        gone.put('a', bytes('1'));
        live.put('b', bytes('2'));
        gone.dispose();
        const [r] = await tickFor(live, 1);
        expect(r!.op).to.equal('put');
        expect(gone.tick()).to.equal(0);
        expect(gone.poll()).to.equal(undefined);
        expect(() => gone.get('a')).to.throw(/disposed/);
        expect(text(await store.get('a')), 'the write itself still happened').to.equal('1');
      } finally { await store.close(); }
    });
  });

  describe('batching and group commit', () => {
    it('ops issued in one tick travel together: 200 puts cost one fdatasync', async () => {
      const store = await openStore({ backend, dir: tmpDir() });
      try {
        const t = store.ticker();
        const before = store.metrics().fsyncs;
        for (let i = 0; i < 200; i++) t.put(`k${i}`, bytes(`v${i}`));
        const rs = await tickFor(t, 200);
        expect(rs.every((r) => r.ok)).to.equal(true);
        expect(store.metrics().fsyncs - before).to.equal(1);
        expect(store.metrics().writeCount).to.equal(200);
      } finally { await store.close(); }
    });

    // Disk only: the memory engine's syncs are free, so nothing waits to be shared.
    if (backend === 'disk') it('writes from many separate turns share fsyncs while one is running (group commit)', async () => {
      const store = await openStore({ backend, dir: tmpDir() });
      try {
        const before = store.metrics().fsyncs;
        const acks: Promise<void>[] = [];
        for (let i = 0; i < 300; i++) {
          acks.push(store.put(`g${i}`, bytes('x')));
          await new Promise((r) => setImmediate(r)); // a new turn: a new batch message
        }
        await Promise.all(acks);
        const fsyncs = store.metrics().fsyncs - before;
        console.log(`      300 writes from 300 turns: ${fsyncs} fdatasyncs`);
        expect(fsyncs).to.be.lessThan(300);
      } finally { await store.close(); }
    });
  });
});

for (const backend of BACKENDS) describe(`[${backend} backend] buffers between the threads are reused`, () => {
  it('a value handed out stays intact after the engine reuses the buffer it arrived in', async () => {
    const store = await openStore({ backend, dir: tmpDir(), memcacheCapacity: 0 });
    try {
      const value = (i: number, round: number): string => `${round}:${i}:`.padEnd(300, String.fromCharCode(97 + ((i + round) % 26)));
      await store.batch(Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: bytes(value(i, 0)) })));
      const held: [string, Uint8Array | undefined][] = [];
      for (let round = 0; round < 6; round++) {
        const t = store.ticker();
        for (let i = 0; i < 200; i++) t.get(`k${i}`);
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
    } finally { await store.close(); }
  });
});
