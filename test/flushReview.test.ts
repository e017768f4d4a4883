import { expect } from 'chai';
import { DiskEngine } from '../src/engines/disk/thread/diskEngine.js';
import { Op, OpWriter, ReplyReader, ReplyWriter, encodeCondition, readOps } from '../src/engines/disk/wire.js';
import { FaultFs, faultStore } from './faultFs.js';
import { bytes, engineCfg, runOps, text, tmpDir, waitFor } from './helpers.js';
import { SimFs } from './durability/simFs.js';

/** Regressions for the defects an independent review found in the grouped policy and format 2 (one test each). */
const DIR = '/db';
const GROUPED = { flushPolicy: { mode: 'grouped', intervalMs: 1_000_000 } } as const;
const get = (e: DiskEngine, k: string): string | undefined => text(runOps(e, [['get', k]])[0]!.value);
/** A killed process: the page cache survives, the lock file is stale. */
const kill = (fs: SimFs): void => fs.unlink(`${DIR}/LOCK`);

describe('review regressions: grouped flushing and format 2', () => {
  it('a sequence number the replica holds from a write the log lost is never reused (the replica would serve the lost value)', () => {
    const fs1 = new SimFs();
    let e = DiskEngine.open(fs1, DIR, engineCfg(GROUPED));
    fs1.syncDir(DIR);
    runOps(e, [['put', 'K', bytes('a')], ['flush']]);
    runOps(e, [['put', 'K', bytes('x')]]); // acknowledged, mirrored, not fsync'd
    const fs2 = fs1.crashImage(undefined, (path) => path.endsWith('read.log')); // the replica's page reached the disk
    e = DiskEngine.open(fs2, DIR, engineCfg());
    runOps(e, [['put', 'K', bytes('y')]]);
    e = DiskEngine.open(fs2.crashImage(), DIR, engineCfg()); // the replica's repair was never fsync'd
    expect(get(e, 'K')).to.equal('y');
    e.close();
  });

  it('open fsyncs the directory: a compaction rename a killed process left unsynced cannot undo writes acknowledged after the restart', () => {
    const fs = new SimFs();
    let e = DiskEngine.open(fs, DIR, engineCfg());
    for (let i = 0; i < 20; i++) runOps(e, [['put', `k${i % 4}`, bytes(`v${i}`)]]);
    let once = true;
    fs.opts.failWhen = (c) => (c === 'syncDir' && once ? ((once = false), 'EIO') : undefined);
    expect(() => e.compactNow()).to.throw(/EIO/);
    fs.opts.failWhen = undefined;
    kill(fs);
    e = DiskEngine.open(fs, DIR, engineCfg());
    expect(runOps(e, [['put', 'new', bytes('1')]])[0]!.ok).to.equal(true);
    const after = DiskEngine.open(fs.crashImage(), DIR, engineCfg());
    expect(get(after, 'new')).to.equal('1');
    after.close();
  });

  it('after a failed fsync and a kill, open rewrites what was not durable instead of trusting its own fsync', () => {
    const fs = new SimFs();
    const e = DiskEngine.open(fs, DIR, engineCfg(GROUPED));
    runOps(e, [['put', 'a', bytes('1')]]);
    runOps(e, [['put', 'b', bytes('2')]]);
    fs.opts.failWhen = (c) => (c === 'datasync' ? 'EIO' : undefined);
    expect(runOps(e, [['flush']])[0]!.ok).to.equal(false);
    fs.opts.failWhen = undefined;
    kill(fs);
    const e2 = DiskEngine.open(fs, DIR, engineCfg());
    expect(runOps(e2, [['put', 'c', bytes('3')]])[0]!.ok).to.equal(true);
    const e3 = DiskEngine.open(fs.crashImage(), DIR, engineCfg()); // not a CorruptionError
    expect(['a', 'b', 'c'].map((k) => get(e3, k))).to.deep.equal(['1', '2', '3']);
    e3.close();
  });

  it('a heal that fails part-way destroys nothing: a killed process then loses no acknowledged write', () => {
    const fs = new SimFs();
    const e = DiskEngine.open(fs, DIR, engineCfg(GROUPED));
    runOps(e, [['put', 'a', bytes('1')]]);
    fs.opts.failWhen = (c) => (c === 'datasync' ? 'EIO' : undefined);
    expect(runOps(e, [['flush']])[0]!.ok).to.equal(false);
    fs.opts.failWhen = (c) => (c === 'write' ? 'EIO' : undefined);
    expect(runOps(e, [['flush']])[0]!.ok, 'the heal fails').to.equal(false);
    expect(e.ws.unsyncedBytes, 'still owed').to.be.greaterThan(0);
    fs.opts.failWhen = undefined;
    kill(fs);
    const again = DiskEngine.open(fs, DIR, engineCfg());
    expect(get(again, 'a')).to.equal('1');
    again.close();
  });

  it('a durable conditional put that is not applied still waits for the fsync of the state it was judged against', () => {
    const fs = new SimFs();
    const e = DiskEngine.open(fs, DIR, engineCfg(GROUPED));
    runOps(e, [['put', 'lock', bytes('owner-A')]]);
    const w = new OpWriter();
    w.push(Op.CondPut, 'lock', encodeCondition({ absent: true }, bytes('owner-B')), true);
    const out = new ReplyWriter();
    e.execute(readOps(w.take()), out);
    const rep = new ReplyReader(out.take()).next();
    expect([rep.ok, rep.found]).to.deep.equal([true, false]);
    const img = DiskEngine.open(fs.crashImage(), DIR, engineCfg());
    expect(get(img, 'lock')).to.equal('owner-A');
    img.close();
    e.close();
  });

  it('a heal is retried within milliseconds, not after the grouped interval', async () => {
    const fs = new FaultFs();
    const store = await faultStore(fs, tmpDir(), { flushPolicy: { mode: 'grouped', intervalMs: 60_000 } });
    await store.put('a', bytes('1'));
    fs.failWhen = (c) => (c === 'datasync' ? 'EIO' : undefined);
    const failed = await store.writeDurable('b', bytes('2')).then(() => false, () => true);
    expect(failed).to.equal(true);
    fs.failWhen = undefined;
    const t0 = Date.now();
    await waitFor(() => store.flushError === undefined, 'the background heal', 5000);
    expect(Date.now() - t0).to.be.below(1000);
    await store.close();
  });

  it('a configure whose sync fails still switches the engine: writes are refused until healed, never acknowledged unsynced under "immediate"', async () => {
    const fs = new FaultFs();
    const store = await faultStore(fs, tmpDir(), { syncMode: 'async-batch', flushPolicy: { mode: 'grouped', intervalMs: 60_000 } });
    await store.put('a', bytes('1'));
    fs.failWhen = (c) => (c === 'datasync' ? 'EIO' : undefined);
    const err = await store.configure({ syncMode: 'per-key', flushPolicy: { mode: 'immediate' } }).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    fs.failWhen = undefined;
    await store.flush();
    const before = store.metrics().fsyncs;
    await store.put('k', bytes('v'));
    expect(store.metrics().fsyncs, 'immediate: fsync\'d before the ack').to.be.greaterThan(before);
    expect(store.metrics().unsyncedBytes).to.equal(0);
    expect(text(await store.get('k')), 'per-key: read-your-write').to.equal('v');
    await store.close();
  });

  it('async-batch: a replica append that failed is retried by the replica timer, so reads stop lagging without a reopen', async () => {
    const fs = new FaultFs();
    const dir = tmpDir();
    const store = await faultStore(fs, dir, { syncMode: 'async-batch', syncIntervalMs: 10 });
    await store.put('k', bytes('old'));
    await waitFor(() => store.metrics().replicaLag === 0, 'the first mirror');
    fs.failWhen = (call, _n, args) => (call === 'write' && isReplicaWrite(fs, args) ? 'EIO' : undefined);
    await store.put('k', bytes('new'));
    await new Promise((r) => setTimeout(r, 60));
    expect(store.metrics().replicaLag, 'the replica is behind').to.be.greaterThan(0);
    fs.failWhen = undefined;
    await waitFor(() => store.metrics().replicaLag === 0, 'the retried mirror', 2000);
    expect(text(await store.get('k'))).to.equal('new');
    await store.close();
  });
});

/** Whether a FaultFs write call goes to the replica (read.log), judged by the descriptor FaultFs saw opened for it. */
function isReplicaWrite(fs: FaultFs, args: unknown[]): boolean {
  return fs.fdPaths.get(args[0] as number)?.endsWith('read.log') === true;
}

