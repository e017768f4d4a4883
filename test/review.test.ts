import { expect } from 'chai';
import { openStore } from '../src/index.js';
import { bytes, openEngine, runOps, text, tickFor, tmpDir, waitFor, type EngineOp } from './helpers.js';
import { FaultFs } from './faultFs.js';

/** Regressions for defects an independent review found (each reproduced before its fix). */
describe('review regressions', () => {
  it('more than 255 failed ops in one turn each carry their error (the error index does not wrap)', () => {
    const fs = new FaultFs();
    const engine = openEngine(fs, tmpDir());
    runOps(engine, [['put', 'a', bytes('1')]]);
    fs.failWhen = (call) => (call === 'datasync' || call === 'truncate' ? 'EIO' : undefined);
    runOps(engine, [['put', 'b', bytes('2')]]); // fails, and so does its rollback: writes are refused
    fs.failWhen = undefined;
    const replies = runOps(engine, Array.from({ length: 300 }, (_, i): EngineOp => ['put', `k${i}`, bytes('v')]));
    replies.forEach((r, i) => {
      expect(r.ok, `op ${i}`).to.equal(false);
      expect(r.errorCode, `op ${i} has its error`).to.equal('IO_ERROR');
    });
  });

  it('a write that failed and could not be rolled back does not come back at close', () => {
    const dir = tmpDir();
    const fs = new FaultFs();
    const engine = openEngine(fs, dir);
    runOps(engine, [['put', 'k', bytes('v1')]]);
    fs.failWhen = (call) => (call === 'datasync' || call === 'truncate' ? 'EIO' : undefined);
    expect(runOps(engine, [['put', 'k', bytes('v2')]])[0]!.ok).to.equal(false);
    fs.failWhen = undefined;
    engine.close();
    const again = openEngine(fs, dir);
    expect(text(runOps(again, [['get', 'k']])[0]!.value)).to.equal('v1');
    again.close();
  });

  it('a close that fails still releases the directory', () => {
    const dir = tmpDir();
    const fs = new FaultFs();
    const engine = openEngine(fs, dir);
    runOps(engine, [['put', 'k', bytes('v')]]);
    fs.failWhen = (call) => (call === 'truncate' ? 'EIO' : undefined); // trimming the zeros ahead fails
    expect(() => engine.close()).to.throw(/EIO/);
    fs.failWhen = undefined;
    const again = openEngine(fs, dir); // not StoreLockedError
    expect(text(runOps(again, [['get', 'k']])[0]!.value)).to.equal('v');
    again.close();
  });

  it('no background compaction runs after close', () => {
    const fs = new FaultFs();
    const engine = openEngine(fs, tmpDir(), { compactMinBytes: 0, compactRatio: 0.1 });
    for (let i = 0; i < 20; i++) runOps(engine, [['put', 'k', bytes(`v${i}`)]]);
    expect(engine.hasBackgroundWork).to.equal(true);
    engine.close();
    const calls = [...fs.counts.values()].reduce((a, b) => a + b, 0);
    expect(engine.hasBackgroundWork).to.equal(false);
    expect(engine.backgroundStep()).to.equal(false);
    expect([...fs.counts.values()].reduce((a, b) => a + b, 0), 'no file-system call after close').to.equal(calls);
  });

  for (const backend of ['disk', 'memory'] as const) {
    it(`async-batch (${backend}): a GET in the same turn as a PUT never caches the older value`, async () => {
      const store = await openStore({ backend, dir: tmpDir(), syncMode: 'async-batch', syncIntervalMs: 20 });
      try {
        await store.put('k', bytes('v1'));
        await waitFor(() => store.metrics().replicaLag === 0, 'replica');
        const t = store.ticker();
        t.put('k', bytes('v2'));
        t.get('k');
        await tickFor(t, 2);
        await waitFor(() => store.metrics().replicaLag === 0, 'replica');
        for (let i = 0; i < 3; i++) expect(text(await store.get('k')), `read ${i}`).to.equal('v2');
      } finally { await store.close(); }
    });
  }

  it('a ticker disposed from inside onResult delivers nothing more', async () => {
    const store = await openStore({ backend: 'memory', dir: tmpDir() });
    try {
      const seen: unknown[] = [];
      const t = store.ticker({ onResult: (r) => { seen.push(r?.handle); t.dispose(); } });
      for (let i = 0; i < 3; i++) t.put(`k${i}`, bytes('v'));
      await waitFor(() => t.waiting === 3, 'results');
      t.tick();
      expect(seen).to.have.length(1);
      expect(seen[0]).to.be.a('number');
    } finally { await store.close(); }
  });
});

describe('review regressions: a refused submit', () => {
  it('a write the dead engine refuses outright leaves no write counted in flight', async () => {
    const store = await openStore({ dir: tmpDir() });
    const internals = store as unknown as { backend: { worker: { terminate(): Promise<number> } }; pendingWrites: Map<string, number> };
    await internals.backend.worker.terminate(); // the engine thread is gone
    await new Promise((r) => setTimeout(r, 20));
    const refused = await Promise.allSettled([
      store.put('k', bytes('v')), store.batch([{ type: 'put', key: 'b', value: bytes('1') }]), store.putIfAbsent('c', bytes('1')),
    ]);
    expect(refused.map((r) => r.status)).to.deep.equal(['rejected', 'rejected', 'rejected']);
    expect([...internals.pendingWrites.keys()], 'the memcache would bypass these keys forever').to.deep.equal([]);
    await store.close().catch(() => undefined);
  });
});
