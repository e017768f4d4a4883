import { expect } from 'chai';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { nodeFileSystem } from '../src/engines/disk/thread/fs.js';
import { bytes, openEngine, runOps, text, tmpDir } from './helpers.js';
import { FaultFs } from './faultFs.js';
import { SimFs } from './durability/simFs.js';
import { recover } from './durability/workload.js';

describe('I/O faults in the write path', () => {
  it('a failed fdatasync fails every op of its group, rolls the log back, and the store carries on', () => {
    const dir = tmpDir();
    const fs = new FaultFs();
    const engine = openEngine(fs, dir);
    runOps(engine, [['put', 'a', bytes('1')]]);
    const size = engine.ws.log.end;
    let armed = true;
    fs.failWhen = (call) => (call === 'datasync' && armed ? ((armed = false), 'EIO') : undefined);
    const failed = runOps(engine, [['put', 'b', bytes('2')], ['delete', 'a'], ['put', 'c', bytes('3')]]);
    for (const r of failed) {
      expect(r.ok).to.equal(false);
      expect(r.error).to.match(/EIO/);
    }
    expect(statSync(join(dir, 'write.log')).size, 'rolled back to the last durable size').to.equal(size);
    const next = runOps(engine, [['put', 'd', bytes('4')], ['get', 'a'], ['get', 'b']]);
    expect(next[0]!.ok).to.equal(true);
    expect(text(next[1]!.value)).to.equal('1');
    expect(next[2]!.found).to.equal(false);
    engine.close();
    const again = openEngine(nodeFileSystem, dir);
    const rs = runOps(again, [['get', 'a'], ['get', 'b'], ['get', 'c'], ['get', 'd']]);
    expect(rs.map((r) => (r.found ? text(r.value) : undefined))).to.deep.equal(['1', undefined, undefined, '4']);
    again.close();
  });

  it('ENOSPC on the append is reported the same way; nothing of the group survives reopen', () => {
    const dir = tmpDir();
    const fs = new FaultFs();
    const engine = openEngine(fs, dir);
    const x = runOps(engine, [['put', 'x', bytes('1')]]);
    let armed = true;
    fs.failWhen = (call, _n, args) => (call === 'write' && args[0] === engine.ws.log.fd && armed ? ((armed = false), 'ENOSPC') : undefined);
    const rs = [x, runOps(engine, [['put', 'y', bytes('2')]])];
    expect(rs[0]![0]!.ok).to.equal(true);
    expect(rs[1]![0]!.ok).to.equal(false);
    expect(rs[1]![0]!.error).to.match(/ENOSPC/);
    engine.close();
    const again = openEngine(nodeFileSystem, dir);
    const got = runOps(again, [['get', 'x'], ['get', 'y']]);
    rs.forEach((r, i) => expect(got[i]!.found, `acknowledged ⇔ present (${i})`).to.equal(r[0]!.ok));
    again.close();
  });

  it('when the rollback fails too, later writes are refused (never a false success) until the log is healed', () => {
    const dir = tmpDir();
    const fs = new FaultFs();
    const engine = openEngine(fs, dir);
    runOps(engine, [['put', 'a', bytes('1')]]);
    fs.failWhen = (call) => (call === 'datasync' ? 'EIO' : undefined);
    expect(runOps(engine, [['put', 'b', bytes('2')]])[0]!.ok).to.equal(false);
    fs.failWhen = undefined; // the disk "heals", but the log's state is unknown
    const later = runOps(engine, [['put', 'c', bytes('3')], ['get', 'a']]);
    expect(later[0]!.ok).to.equal(false);
    expect(later[0]!.error).to.match(/rolled back/);
    expect(text(later[1]!.value), 'reads still work').to.equal('1');
    // A flush (or the engine's background retry) cuts the log back to its durable end and syncs.
    const healed = runOps(engine, [['flush'], ['put', 'd', bytes('4')], ['get', 'b']]);
    expect(healed.map((r) => r.ok)).to.deep.equal([true, true, true]);
    expect(healed[2]!.found, 'the failed write never appears').to.equal(false);
    engine.close();
    const again = openEngine(nodeFileSystem, dir);
    const got = runOps(again, [['get', 'a'], ['get', 'c'], ['get', 'b'], ['get', 'd']]);
    expect(text(got[0]!.value)).to.equal('1');
    expect(got[1]!.found).to.equal(false);
    expect(got[2]!.found).to.equal(false);
    expect(text(got[3]!.value)).to.equal('4');
    again.close();
  });

  it('a failed replica append leaves reads coherent (served from the write store), is retried until it lands, and is repaired at open otherwise', () => {
    const dir = tmpDir();
    const fs = new FaultFs();
    const engine = openEngine(fs, dir);
    runOps(engine, [['put', 'a', bytes('old')]]);
    const readFd = engine.rs.log.fd;
    fs.failWhen = (call, _n, args) => (call === 'write' && args[0] === readFd ? 'EIO' : undefined);
    expect(runOps(engine, [['put', 'a', bytes('new')]])[0]!.ok).to.equal(true);
    expect(text(runOps(engine, [['get', 'a']])[0]!.value), 'read-after-write despite the replica').to.equal('new');
    expect(engine.replicaLag, 'the group waits for the replica').to.equal(1);
    engine.syncReplica(); // still failing: stays queued
    expect(engine.replicaLag).to.equal(1);
    fs.failWhen = undefined;
    engine.syncReplica(); // the replica timer's retry
    expect(engine.replicaLag).to.equal(0);
    expect(engine.rs.seqOf('a'), 'the replica caught up without a reopen').to.equal(engine.ws.keydir.get('a')!.seq);
    // A replica still behind at a crash is repaired at open.
    fs.failWhen = (call, _n, args) => (call === 'write' && args[0] === readFd ? 'EIO' : undefined);
    runOps(engine, [['put', 'a', bytes('newer')]]);
    fs.unlink(`${dir}/LOCK`); // killed: no close, no last retry
    const again = openEngine(nodeFileSystem, dir);
    expect(again.stats().replicaRepaired).to.equal(1);
    expect(text(runOps(again, [['get', 'a']])[0]!.value)).to.equal('newer');
    again.close();
  });

  it('a compaction that hits an I/O error keeps the old log whole and is retried later', () => {
    const dir = tmpDir();
    const fs = new FaultFs();
    const engine = openEngine(fs, dir, { compactRatio: 0.5, compactMinBytes: 0 });
    for (let i = 0; i < 50; i++) runOps(engine, [['put', 'k', bytes(`v${i}`)], ['put', `j${i}`, bytes('x')]]);
    fs.failWhen = (call, _n, args) => (call === 'rename' && String(args[0]).endsWith('.compact') ? 'EIO' : undefined);
    expect(() => engine.compactNow()).to.throw(/EIO/);
    fs.failWhen = undefined;
    expect(text(runOps(engine, [['get', 'k']])[0]!.value)).to.equal('v49');
    engine.compactNow();
    expect(engine.stats().compactions).to.equal(2);
    engine.close();
    const again = openEngine(nodeFileSystem, dir);
    expect(text(runOps(again, [['get', 'k']])[0]!.value)).to.equal('v49');
    expect(again.stats().writeKeys).to.equal(51);
    again.close();
  });
});

describe('compaction faults found by the I/O-error sweep (regressions)', () => {
  for (const [what, call] of [['the directory fsync after its rename', 'syncDir'], ['closing the old log after its rename', 'close']] as const) {
    it(`a failure in ${what} never strands later acknowledged writes in the old file`, () => {
      const fs = new SimFs();
      const engine = openEngine(fs, '/store', { compactMinBytes: 0 });
      for (let i = 0; i < 20; i++) runOps(engine, [['put', `k${i % 5}`, bytes(`v${i}`)]]);
      // Fail the first `call` after the write log's compaction rename.
      let armed = false;
      let fired = false;
      const rename = fs.rename.bind(fs);
      fs.rename = (from, to) => { rename(from, to); if (from === '/store/write.log.compact') armed = true; };
      const orig = fs[call].bind(fs) as (...a: unknown[]) => unknown;
      (fs as unknown as Record<string, unknown>)[call] = (...a: unknown[]) => {
        if (armed && !fired) { fired = true; throw Object.assign(new Error(`EIO: injected in ${call}`), { code: 'EIO' }); }
        return orig(...a);
      };
      try { engine.compactNow(); } catch { /* reported as a compaction failure */ }
      expect(fired, 'the fault was injected').to.equal(true);
      const after = runOps(engine, [['put', 'late', bytes('acknowledged')], ['delete', 'k1']]);
      expect(after.every((r) => r.ok)).to.equal(true);
      // The process dies (page cache kept), or the power goes: either way both acks hold.
      for (const image of [fs.processCrashImage(), fs.crashImage()]) {
        const got = recover(image);
        expect(got.get('late'), 'the write acknowledged after the fault').to.equal('acknowledged');
        expect(got.has('k1'), 'the delete acknowledged after the fault').to.equal(false);
      }
    });
  }
});
