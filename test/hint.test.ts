import { expect } from 'chai';
import { copyFileSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import type { DiskEngine } from '../src/engines/disk/thread/diskEngine.js';
import { nodeFileSystem, type FileSystem } from '../src/engines/disk/thread/fs.js';
import { HINT_FILE } from '../src/engines/disk/thread/hint.js';
import { CorruptionError, StoreIOError, openStore } from '../src/index.js';
import { FaultFs } from './faultFs.js';
import { bytes, openEngine, runOps, text, tmpDir, type EngineOp } from './helpers.js';

/** Everything both indexes hold, in a comparable form. */
function indexes(e: DiskEngine): { ws: object; rs: object; lastSeq: number; live: number[] } {
  const dump = (entries: IterableIterator<[string, object]>): object => Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    ws: dump(e.ws.keydir.entries()), rs: dump(e.rs.keydir.entries()), lastSeq: e.ws.lastSeq,
    live: [e.ws.keydir.liveBytes, e.rs.keydir.liveBytes],
  };
}

/** A store's worth of history: overwrites, deletes, a batch, deadlines, a compaction. */
function fill(dir: string): Map<string, string> {
  const e = openEngine(nodeFileSystem, dir, { compactMinBytes: 1 << 30 });
  const model = new Map<string, string>();
  const far = Date.now() + 3_600_000;
  for (let round = 0; round < 3; round++) {
    const ops: EngineOp[] = [];
    for (let i = 0; i < 2000; i++) {
      const k = `player:${i}:${'é'.repeat(i % 4)}`;
      if ((i + round) % 7 === 0) { ops.push(['delete', k]); model.delete(k); continue; }
      const v = `v${round}-${i}`;
      ops.push(i % 11 === 0 ? ['put', k, bytes(v), { deadline: far }] : ['put', k, bytes(v)]);
      model.set(k, v);
    }
    ops.push(['batch', [{ type: 'put', key: 'world', value: bytes(`w${round}`) }, { type: 'delete', key: 'player:3:ééé' }]]);
    model.set('world', `w${round}`);
    model.delete('player:3:ééé');
    runOps(e, ops);
    if (round === 1) e.compactNow();
  }
  e.close();
  // A replica rebuilt from the write log: its entries sit elsewhere than the write log's, so the two indexes differ.
  unlinkSync(join(dir, 'read.log'));
  const rebuilt = openEngine(nodeFileSystem, dir);
  expect(rebuilt.rs.repaired).to.be.greaterThan(1000);
  runOps(rebuilt, [['put', 'world', bytes('w3')]]);
  model.set('world', 'w3');
  rebuilt.close();
  return model;
}

function expectValues(e: DiskEngine, model: Map<string, string>): void {
  const keys = [...model.keys(), 'player:0:', 'absent'];
  const got = runOps(e, keys.map((k): EngineOp => ['get', k]));
  keys.forEach((k, i) => expect(text(got[i]!.value), k).to.equal(model.get(k)));
}

/** Opens `dir`, checks whether the index came from the hint and that every value is the model's, closes. */
function reopen(dir: string, fromHint: boolean, model: Map<string, string>, fs: FileSystem = nodeFileSystem): void {
  const e = openEngine(fs, dir);
  try {
    expect(e.fromHint).to.equal(fromHint);
    expectValues(e, model);
  } finally { e.close(); }
}

describe('hint file: the index a clean close leaves for the next open', () => {
  it('open from the hint gives exactly the indexes a full scan gives, and every value', () => {
    const dir = tmpDir();
    const model = fill(dir);
    expect(existsSync(join(dir, HINT_FILE)), 'close writes the hint').to.equal(true);
    copyFileSync(join(dir, HINT_FILE), join(dir, 'saved.hint'));

    const fromHint = openEngine(nodeFileSystem, dir);
    expect(fromHint.fromHint).to.equal(true);
    expect(existsSync(join(dir, HINT_FILE)), 'open deletes the hint before anything is written').to.equal(false);
    const a = indexes(fromHint);
    expectValues(fromHint, model);
    fromHint.close();

    // The same logs without the hint: a full scan.
    copyFileSync(join(dir, 'saved.hint'), join(dir, 'ignored'));
    nodeFileSystem.unlink(join(dir, HINT_FILE));
    const scanned = openEngine(nodeFileSystem, dir);
    expect(scanned.fromHint).to.equal(false);
    expect(indexes(scanned)).to.deep.equal(a);
    expectValues(scanned, model);
    scanned.close();
  });

  it('works on after an open from the hint: writes, deletes, compaction, reopen', () => {
    const dir = tmpDir();
    const model = fill(dir);
    const e = openEngine(nodeFileSystem, dir);
    expect(e.fromHint).to.equal(true);
    const ops: EngineOp[] = [];
    for (let i = 0; i < 3000; i += 3) {
      const k = `player:${i}:${'é'.repeat(i % 4)}`;
      if (i % 2) { ops.push(['delete', k]); model.delete(k); } else { ops.push(['put', k, bytes(`after-${i}`)]); model.set(k, `after-${i}`); }
    }
    runOps(e, ops);
    e.compactNow();
    expectValues(e, model);
    e.close();
    reopen(dir, true, model);
  });

  it('a sound hint that does not describe the write log exactly (a stale hint, a replaced or damaged log) refuses the open, changing nothing; a corrupt or torn hint is ignored: open scans', () => {
    const dir = tmpDir();
    const model = fill(dir);
    copyFileSync(join(dir, HINT_FILE), join(dir, 'old.hint'));
    // Stale: the logs changed after that hint was written (as if an old hint had been restored).
    const e = openEngine(nodeFileSystem, dir);
    runOps(e, [['put', 'late', bytes('write')]]);
    model.set('late', 'write');
    e.close();
    const good = readFileSync(join(dir, HINT_FILE));
    copyFileSync(join(dir, 'old.hint'), join(dir, HINT_FILE));
    const refuses = (what: string): void => {
      const before = readFileSync(join(dir, 'write.log'));
      let caught: unknown;
      try { openEngine(nodeFileSystem, dir).close(); } catch (err) { caught = err; }
      expect(caught, what).to.be.instanceOf(CorruptionError);
      expect((caught as Error).message, what).to.contain(HINT_FILE);
      expect(readFileSync(join(dir, 'write.log')).equals(before), `${what}: write.log unchanged`).to.equal(true);
      expect(existsSync(join(dir, HINT_FILE)), `${what}: the hint stays`).to.equal(true);
    };
    refuses('a stale hint');
    // The operator who knows the log is right deletes the hint: the open scans.
    unlinkSync(join(dir, HINT_FILE));
    reopen(dir, false, model);

    // Same sizes, different last entry (a valid one, for another key): only the fingerprint's tail tells.
    const swapped = openEngine(nodeFileSystem, dir);
    runOps(swapped, [['put', 'zz', bytes('tail-value')]]);
    swapped.close();
    const tailHint = readFileSync(join(dir, HINT_FILE));
    for (const log of ['write.log', 'read.log']) {
      const b = readFileSync(join(dir, log));
      const at = b.length - (20 + 2 + 10);
      expect(b.toString('latin1', at + 20, at + 22)).to.equal('zz');
      b.write('zy', at + 20, 'latin1');
      b.writeUInt32LE(crc32(b.subarray(at + 4)), at);
      writeFileSync(join(dir, log), b);
    }
    writeFileSync(join(dir, HINT_FILE), tailHint);
    refuses('a swapped last entry');
    unlinkSync(join(dir, HINT_FILE));
    const tail = openEngine(nodeFileSystem, dir);
    expect(tail.fromHint).to.equal(false);
    model.set('zy', 'tail-value');
    expectValues(tail, model);
    expect(runOps(tail, [['get', 'zz']])[0]!.value).to.equal(undefined);
    tail.close();

    const flipped = Buffer.from(good);
    flipped[flipped.length >> 1]! ^= 0x40;
    for (const bad of [flipped, good.subarray(0, good.length - 100), Buffer.alloc(0)]) {
      writeFileSync(join(dir, HINT_FILE), bad);
      reopen(dir, false, model);
    }
  });

  it('a failure while writing the hint fails nothing: close succeeds, the next open scans', () => {
    const dir = tmpDir();
    const model = fill(dir);
    nodeFileSystem.unlink(join(dir, HINT_FILE));
    const fs = new FaultFs();
    const e = openEngine(fs, dir);
    runOps(e, [['put', 'k', bytes('v')]]);
    model.set('k', 'v');
    fs.failWhen = (call, _n, args) => (call === 'rename' && String(args[0]).endsWith(`${HINT_FILE}.tmp`) ? 'EIO' : undefined);
    e.close();
    expect(existsSync(join(dir, HINT_FILE))).to.equal(false);
    reopen(dir, false, model);
    expect(existsSync(join(dir, `${HINT_FILE}.tmp`)), 'the leftover temporary file is removed at open').to.equal(false);
  });

  it('stores report it: openedFromHint after a clean close', async () => {
    const dir = tmpDir();
    const s1 = await openStore({ dir });
    expect(s1.metrics().openedFromHint, 'a new store has no hint').to.equal(false);
    await s1.put('a', bytes('1'));
    await s1.close();
    const s2 = await openStore({ dir });
    expect(s2.metrics().openedFromHint).to.equal(true);
    expect(text(await s2.get('a'))).to.equal('1');
    await s2.close();
  });
});

describe('hint file: failures around it never fail an open (review findings)', () => {
  it('a failing unlink of the hint (EIO) fails the open, typed, changing nothing: a hint left behind would describe logs about to change', () => {
    const dir = tmpDir();
    const model = fill(dir);
    const fs = new FaultFs();
    fs.failWhen = (c, _n, args) => (c === 'unlink' && String(args[0] ?? '').includes(HINT_FILE) ? 'EIO' : undefined);
    let caught: unknown;
    try { openEngine(fs, dir).close(); } catch (e) { caught = e; }
    expect(caught).to.be.instanceOf(StoreIOError);
    expect((caught as StoreIOError).syscallCode).to.equal('EIO');
    expect(existsSync(join(dir, HINT_FILE)), 'the hint is still there').to.equal(true);
    reopen(dir, true, model);
  });

  for (const call of ['exists', 'open', 'size', 'read'] as const) {
    it(`a failing ${call} of the hint (EIO): the open scans instead`, () => {
      const dir = tmpDir();
      const model = fill(dir);
      const fs = new FaultFs();
      fs.failWhen = (c, _n, args) => (c === call && String(args[0] ?? '').includes(HINT_FILE) ? 'EIO' : undefined);
      // Calls on descriptors carry the fd, not the path: aim those at the hint's descriptor.
      if (call === 'size' || call === 'read') {
        fs.failWhen = (c, _n, args) => (c === call && String(fs.fdPaths.get(args[0] as number) ?? '').endsWith(HINT_FILE) ? 'EIO' : undefined);
      }
      reopen(dir, false, model, fs);
    });
  }

  it('a replica append that fails part-way at close: no hint, so the next open cuts the torn bytes as a scan does', () => {
    const dir = tmpDir();
    const fs = new FaultFs();
    let armed = false;
    const inner = nodeFileSystem;
    const e = openEngine({
      ...inner,
      open: (p, f) => fs.open(p, f),
      write: (fd, buf, off, len, pos) => {
        if (armed && String(fs.fdPaths.get(fd)).endsWith('read.log') && len > 40) {
          inner.write(fd, buf, off, (len >> 1) + 7, pos);
          throw Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' });
        }
        inner.write(fd, buf, off, len, pos);
      },
    }, dir, { syncMode: 'async-batch' });
    runOps(e, [['put', 'a', bytes('1'.repeat(100))]]);
    e.syncReplica();
    runOps(e, [['put', 'b', bytes('2'.repeat(100))], ['put', 'c', bytes('3'.repeat(100))]]);
    armed = true;
    e.close();
    expect(existsSync(join(dir, HINT_FILE)), 'read.log is longer than its log: no hint').to.equal(false);
    const again = openEngine(nodeFileSystem, dir, { syncMode: 'async-batch' });
    expect(again.rs.rebuilt).to.equal(false);
    expectValues(again, new Map([['a', '1'.repeat(100)], ['b', '2'.repeat(100)], ['c', '3'.repeat(100)]]));
    again.close();
    const third = openEngine(nodeFileSystem, dir, { syncMode: 'async-batch' });
    expect(third.fromHint).to.equal(true);
    expect(third.rs.rebuilt, 'nothing torn was kept inside the replica').to.equal(false);
    third.close();
  });
});

describe('hint file: the replica it vouches for is synced first', () => {
  it('a clean close fdatasyncs read.log before it writes the hint; if that sync fails, no hint', () => {
    for (const failSync of [false, true]) {
      const dir = tmpDir();
      const fs = new FaultFs();
      const e = openEngine(fs, dir);
      runOps(e, [['put', 'a', bytes('1')]]);
      const order: string[] = [];
      fs.failWhen = (call, _n, args) => {
        const path = call === 'datasync' ? String(fs.fdPaths.get(args[0] as number)) : String(args[0]);
        if (call === 'datasync' && path.endsWith('read.log')) { order.push('sync read.log'); return failSync ? 'EIO' : undefined; }
        if (call === 'rename' && path.endsWith(`${HINT_FILE}.tmp`)) order.push('hint');
        return undefined;
      };
      e.close();
      expect(order).to.deep.equal(failSync ? ['sync read.log'] : ['sync read.log', 'hint']);
      expect(existsSync(join(dir, HINT_FILE))).to.equal(!failSync);
    }
  });
});
