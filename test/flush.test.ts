import { expect } from 'chai';
import { DiskEngine } from '../src/engines/disk/thread/diskEngine.js';
import { InvalidConfigError, StoreIOError, openStore } from '../src/index.js';
import { FaultFs, faultStore } from './faultFs.js';
import { BACKENDS, bytes, engineCfg, runOps, sleep, text, tmpDir, waitFor, type EngineOp } from './helpers.js';
import { SimFs } from './durability/simFs.js';

const GROUPED = { mode: 'grouped', intervalMs: 1_000_000 } as const;
const DIR = '/db';

/** Opens an engine on a fresh SimFs under the grouped policy (an interval no test waits out). */
function simEngine(): { fs: SimFs; engine: DiskEngine } {
  const fs = new SimFs();
  return { fs, engine: DiskEngine.open(fs, DIR, engineCfg({ flushPolicy: GROUPED })) };
}

/** What a power loss now would leave: the value of each key after reopening. */
function afterPowerLoss(fs: SimFs, keys: string[]): (string | undefined)[] {
  const engine = DiskEngine.open(fs.crashImage(), DIR, engineCfg());
  try {
    return runOps(engine, keys.map((k): EngineOp => ['get', k])).map((r) => text(r.value));
  } finally { engine.close(); }
}

const put = (k: string, v: string, o?: { durable?: boolean }): EngineOp => (o ? ['put', k, bytes(v), o] : ['put', k, bytes(v)]);

describe('flush policies (engine, simulated power loss)', () => {
  it('grouped: writes are acknowledged and readable before any fsync; a power loss may take them; flush makes them durable', () => {
    const { fs, engine } = simEngine();
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    const before = engine.ws.fsyncs;
    for (const k of keys) expect(runOps(engine, [put(k, `v-${k}`)])[0]!.ok).to.equal(true);
    expect(engine.ws.fsyncs, '100 acknowledged writes, no fsync yet').to.equal(before);
    expect(text(runOps(engine, [['get', 'k42']])[0]!.value)).to.equal('v-k42');
    expect(afterPowerLoss(fs, keys).filter((v) => v !== undefined), 'unsynced: a power loss takes them').to.have.length(0);

    expect(runOps(engine, [['flush']])[0]!.ok).to.equal(true);
    expect(engine.ws.fsyncs, 'one fsync for all of them').to.equal(before + 1);
    expect(afterPowerLoss(fs, keys)).to.deep.equal(keys.map((k) => `v-${k}`));
    engine.close();
  });

  it('writeDurable (a durable put) is fsync\'d before its ack and takes earlier buffered writes with it', () => {
    const { fs, engine } = simEngine();
    runOps(engine, [put('a', '1')]);
    runOps(engine, [put('b', '2')]);
    expect(afterPowerLoss(fs, ['a', 'b'])).to.deep.equal([undefined, undefined]);
    expect(runOps(engine, [put('c', '3', { durable: true })])[0]!.ok).to.equal(true);
    expect(afterPowerLoss(fs, ['a', 'b', 'c'])).to.deep.equal(['1', '2', '3']);
    runOps(engine, [put('d', '4')]);
    expect(afterPowerLoss(fs, ['c', 'd']), 'later writes are buffered again').to.deep.equal(['3', undefined]);
    engine.close();
    expect(afterPowerLoss(fs, ['d']), 'close makes everything durable').to.deep.equal(['4']);
  });

  it('a failed fsync: flush fails, the error stays, later writes fail; once the disk heals every buffered write is rewritten, not trusted to a retried fsync', () => {
    const { fs, engine } = simEngine();
    runOps(engine, [put('a', '1')]);
    runOps(engine, [put('b', '2')]);
    fs.opts.failWhen = (call) => (call === 'datasync' ? 'EIO' : undefined);
    const f = runOps(engine, [['flush']])[0]!;
    expect(f.ok).to.equal(false);
    expect(f.error).to.match(/EIO/);
    expect(engine.stats().flushError?.message, 'visible').to.match(/EIO/);
    expect(engine.stats().flushError?.message, 'and reading it consumes nothing').to.match(/EIO/);
    const later = runOps(engine, [put('c', '3'), ['get', 'a']]);
    expect(later[0]!.ok, 'later writes fail while the error stands').to.equal(false);
    expect(text(later[1]!.value), 'reads still work').to.equal('1');
    expect(runOps(engine, [['flush']])[0]!.ok, 'still failing').to.equal(false);

    fs.opts.failWhen = undefined;
    // The model's point: the failed fsync dropped a and b from what later syncs persist.
    const naive = fs.processCrashImage();
    expect(afterPowerLoss(fs, ['a', 'b']), 'lost from the disk by the failed fsync').to.deep.equal([undefined, undefined]);
    expect(naive.fileBytes(`${DIR}/write.log`)!.includes('b'), 'though the page cache still shows them').to.equal(true);

    expect(runOps(engine, [['flush']])[0]!.ok, 'the disk healed').to.equal(true);
    expect(engine.stats().flushError).to.equal(undefined);
    expect(afterPowerLoss(fs, ['a', 'b', 'c']), 'rewritten and durable; the failed write never appears').to.deep.equal(['1', '2', undefined]);
    expect(runOps(engine, [put('c', '3')])[0]!.ok, 'writes work again').to.equal(true);
    engine.close();
  });

  it('grouped: a compaction whose directory fsync fails still counts its new log as durable, so a later heal rewrites only what came after', () => {
    const { fs, engine } = simEngine();
    for (let i = 0; i < 20; i++) runOps(engine, [put(`k${i % 5}`, `v${i}`)]);
    let failDirSync = true;
    fs.opts.failWhen = (call) => (call === 'syncDir' && failDirSync ? ((failDirSync = false), 'EIO') : undefined);
    expect(() => engine.compactNow()).to.throw(/EIO/);
    expect(engine.ws.unsyncedBytes, 'the compacted log is durable').to.equal(0);
    runOps(engine, [put('after', 'x')]);
    fs.opts.failWhen = (call) => (call === 'datasync' ? 'EIO' : undefined);
    expect(runOps(engine, [['flush']])[0]!.ok).to.equal(false);
    fs.opts.failWhen = undefined;
    expect(runOps(engine, [['flush']])[0]!.ok, 'healed').to.equal(true);
    expect(afterPowerLoss(fs, ['k0', 'k4', 'after'])).to.deep.equal(['v15', 'v19', 'x']);
    engine.close();
  });

  it('grouped: at most 16 MiB wait for an fsync, so the copies kept for a rewrite stay bounded', () => {
    const { engine } = simEngine();
    const before = engine.ws.fsyncs;
    const mib = new Uint8Array(1024 * 1024).fill(7);
    for (let i = 0; i < 40; i++) {
      runOps(engine, [['put', `big${i}`, mib]]);
      expect(engine.ws.unsyncedBytes, `after ${i + 1} MiB`).to.be.below(17 * 1024 * 1024 + 1024);
    }
    expect(engine.ws.fsyncs - before, '40 MiB written, fsync\'d about every 16').to.be.within(2, 3);
    engine.close();
  });

  it('grouped under power loss with pages written back in any order: recovery opens, keeps every synced write, and keeps a prefix of the rest', () => {
    for (let seed = 1; seed <= 40; seed++) {
      let x = seed * 2654435761 >>> 0;
      const r = (n: number): number => { x = (x * 1103515245 + 12345) >>> 0; return (x >>> 8) % n; };
      const { fs, engine } = simEngine();
      const order: string[] = [];
      let synced = 0;
      for (let i = 0; i < 60; i++) {
        const k = `k${i}`;
        order.push(k);
        // Values of 100..3000 bytes, so units straddle 4 KiB pages.
        runOps(engine, [put(k, `${k}:`.padEnd(100 + r(2900), '.'))]);
        if (r(10) === 0) { runOps(engine, [['flush']]); synced = order.length; }
      }
      const img = fs.crashImage(undefined, () => r(2) === 0);
      const got = (() => {
        const e = DiskEngine.open(img, DIR, engineCfg());
        try { return runOps(e, order.map((k): EngineOp => ['get', k])).map((rep) => rep.found); } finally { e.close(); }
      })();
      const present = got.lastIndexOf(true) + 1;
      expect(got.slice(0, synced).every(Boolean), `seed ${seed}: every synced write survives`).to.equal(true);
      expect(got.slice(0, present).every(Boolean), `seed ${seed}: the survivors are a prefix`).to.equal(true);
      engine.close();
    }
  });
});


describe('flush policies (store)', () => {
  for (const backend of BACKENDS) {
    it(`grouped (${backend}): 100 rapid writes cost far fewer fsyncs than the immediate policy's, and all are there after flush and after close`, async () => {
      const dirs = { immediate: tmpDir(), grouped: tmpDir() };
      const fsyncs: Record<string, number> = {};
      for (const mode of ['immediate', 'grouped'] as const) {
        const store = await openStore({ dir: dirs[mode], backend, flushPolicy: mode === 'grouped' ? { mode, intervalMs: 20 } : { mode } });
        const before = store.metrics().fsyncs;
        for (let i = 0; i < 100; i++) await store.put(`k${i}`, bytes(`v${i}`)); // one at a time: no group commit to share
        await store.flush();
        expect(store.metrics().unsyncedBytes).to.equal(0);
        fsyncs[mode] = store.metrics().fsyncs - before;
        for (let i = 0; i < 100; i++) expect(text(await store.get(`k${i}`))).to.equal(`v${i}`);
        await store.close();
      }
      console.log(`      fsyncs for 100 sequential writes: immediate ${fsyncs.immediate}, grouped (20 ms) ${fsyncs.grouped}`);
      expect(fsyncs.immediate).to.be.at.least(100);
      expect(fsyncs.grouped! * 5, 'far fewer').to.be.below(fsyncs.immediate!);
      if (backend === 'disk') {
        const again = await openStore({ dir: dirs.grouped });
        for (let i = 0; i < 100; i++) expect(text(await again.get(`k${i}`))).to.equal(`v${i}`);
        await again.close();
      }
    });
  }

  it('grouped: the background fsync runs within the interval; close makes the rest durable', async () => {
    const dir = tmpDir();
    const store = await openStore({ dir, flushPolicy: { mode: 'grouped', intervalMs: 30 } });
    await store.put('a', bytes('1'));
    expect(store.metrics().unsyncedBytes).to.be.greaterThan(0);
    await waitFor(() => store.metrics().unsyncedBytes === 0, 'the background fsync', 2000);
    await store.put('b', bytes('2'));
    await store.close();
    const again = await openStore({ dir });
    expect(text(await again.get('b'))).to.equal('2');
    await again.close();
  });

  it('a persistent fsync failure: flush rejects (never hangs), flushError stays visible, writes fail; after the disk heals the buffered writes are rewritten', async () => {
    const dir = tmpDir();
    const fs = new FaultFs();
    const store = await faultStore(fs, dir, { flushPolicy: { mode: 'grouped', intervalMs: 20 } });
    await store.put('a', bytes('1'));
    await store.put('b', bytes('2'));
    let rewrites = 0;
    fs.failWhen = (call) => (call === 'datasync' ? 'EIO' : undefined);
    const err = await store.flush().then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(StoreIOError);
    expect(store.flushError).to.be.instanceOf(StoreIOError);
    expect(store.flushError?.message).to.match(/EIO/);
    await sleep(100); // background retries keep failing
    expect(store.flushError, 'still visible').to.be.instanceOf(StoreIOError);
    const w = await store.put('c', bytes('3')).then(() => 'acknowledged', (e: unknown) => e);
    expect(w, 'later writes fail').to.be.instanceOf(StoreIOError);
    expect(text(await store.get('a')), 'reads work').to.equal('1');

    fs.failWhen = (call, _n, args) => {
      if (call === 'write' && (args[2] as number) > 0) rewrites++;
      return undefined;
    };
    await waitFor(() => store.flushError === undefined, 'the background rewrite', 5000);
    expect(rewrites, 'the buffered writes were written again').to.be.greaterThan(0);
    await store.flush();
    await store.put('d', bytes('4'));
    await store.close();
    const again = await openStore({ dir });
    expect(await Promise.all(['a', 'b', 'c', 'd'].map(async (k) => text(await again.get(k))))).to.deep.equal(['1', '2', undefined, '4']);
    await again.close();
  });

  it('writeDurable under the grouped policy fsyncs before it resolves', async () => {
    const store = await openStore({ dir: tmpDir(), flushPolicy: { mode: 'grouped', intervalMs: 60_000 } });
    await store.put('a', bytes('1'));
    const before = store.metrics().fsyncs;
    await store.writeDurable('b', bytes('2'));
    expect(store.metrics().fsyncs).to.equal(before + 1);
    expect(store.metrics().unsyncedBytes, 'a went with it').to.equal(0);
    await store.close();
  });

  it('the ticker has flush too, and the policy can be switched in place', async () => {
    const store = await openStore({ dir: tmpDir(), flushPolicy: { mode: 'grouped', intervalMs: 60_000 } });
    const t = store.ticker();
    t.put('a', bytes('1'));
    const h = t.flush();
    const got: { handle: number; ok: boolean; op: string }[] = [];
    await waitFor(() => { t.tick(); for (let r = t.poll(); r; r = t.poll()) got.push(r); return got.length === 2; }, 'results');
    expect(got.map((r) => [r.op, r.ok])).to.deep.equal([['put', true], ['flush', true]]);
    expect(got[1]!.handle).to.equal(h);
    await store.put('b', bytes('2'));
    expect(store.metrics().unsyncedBytes).to.be.greaterThan(0);
    await store.configure({ flushPolicy: { mode: 'immediate' } });
    expect(store.metrics().unsyncedBytes, 'switching to immediate syncs what was buffered').to.equal(0);
    let refused: unknown;
    try { await store.configure({ flushPolicy: { mode: 'grouped' } as never }); } catch (e) { refused = e; }
    expect(refused, 'configure rejects').to.be.instanceOf(InvalidConfigError);
    await store.close();
  });

  it('bad flush policies are InvalidConfigError', async () => {
    for (const bad of [{ mode: 'grouped' }, { mode: 'grouped', intervalMs: 0 }, { mode: 'sometimes' }, 'immediate', { mode: 'immediate', intervalMs: 5 }]) {
      let caught: unknown;
      try { await openStore({ dir: tmpDir(), flushPolicy: bad as never }); } catch (e) { caught = e; }
      expect(caught, JSON.stringify(bad)).to.be.instanceOf(InvalidConfigError);
    }
  });
});
