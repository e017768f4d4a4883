import { expect } from 'chai';
import { openStore } from '../src/index.js';
import { bytes, text, tickFor, tmpDir, waitFor, BACKENDS } from './helpers.js';

// The result rules, tickers, the memcache and the buffer-reuse rule are in src/testkit/conformance.ts;
// here only the disk engine's own figures: its replica's lag (async-batch) and its fsync counts.
for (const backend of BACKENDS) describe(`[${backend} backend]`, () => {
  describe('replica lag', () => {
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
