import { expect } from 'chai';
import { existsSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Compaction } from '../src/engines/disk/thread/compaction.js';
import { nodeFileSystem } from '../src/engines/disk/thread/fs.js';
import { ENTRY_HEADER_BYTES, FILE_HEADER_BYTES } from '../src/engines/disk/thread/record.js';
import { openStore } from '../src/index.js';
import { FaultFs } from './faultFs.js';
import { bytes, openEngine, runOps, text, tmpDir, waitFor, type EngineOp } from './helpers.js';

const fsz = (p: string): number => statSync(p).size;

/** Live bytes the model says the log holds: one entry per live key. */
function liveBytes(model: Map<string, string>): number {
  let n = 0;
  for (const [k, v] of model) n += ENTRY_HEADER_BYTES + Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

function expectEngineState(engine: ReturnType<typeof openEngine>, model: Map<string, string>, keys: string[]): void {
  const replies = runOps(engine, keys.map((k): EngineOp => ['get', k]));
  keys.forEach((k, i) => expect(replies[i]!.found ? text(replies[i]!.value) : undefined, k).to.equal(model.get(k)));
  expect(engine.stats().writeKeys).to.equal(model.size);
  expect(engine.stats().readKeys).to.equal(model.size);
}

describe('compaction', () => {
  it('triggers exactly when dead bytes reach compactRatio and the log reaches compactMinBytes', () => {
    const dir = tmpDir();
    const ratio = 0.5;
    const minBytes = 8000;
    const engine = openEngine(nodeFileSystem, dir, { compactRatio: ratio, compactMinBytes: minBytes });
    const model = new Map<string, string>();
    const wl = join(dir, 'write.log');
    // The log's logical size, from what was written (the file itself also holds zeros written ahead).
    let size = FILE_HEADER_BYTES;
    let sawBelowMin = false;
    let sawBelowRatio = false;
    let triggeredAt = -1;
    // A tiny log at a high dead ratio, then many live keys (a large log at a low ratio), then overwrites.
    const ops: [string, string | undefined][] = [];
    for (let i = 0; i < 60; i++) ops.push(['hot', `h${i}`.padEnd(40, '.')]);
    for (let i = 0; i < 150; i++) ops.push([`k${i}`, `v${i}`.padEnd(40, '.')]);
    for (let i = 0; i < 2000; i++) ops.push([`k${i % 150}`, i % 7 === 3 ? undefined : `w${i}`.padEnd(40, '.')]);
    for (let i = 0; i < ops.length && triggeredAt < 0; i++) {
      const [key, value] = ops[i]!;
      if (value === undefined) { runOps(engine, [['delete', key]]); model.delete(key); } else { runOps(engine, [['put', key, bytes(value)]]); model.set(key, value); }
      size += ENTRY_HEADER_BYTES + key.length + (value?.length ?? 0);
      // The expectation is computed from what was written and the model, not from engine figures.
      const dead = size - FILE_HEADER_BYTES - liveBytes(model);
      const due = size >= minBytes && dead / size >= ratio;
      if (size < minBytes && dead / size >= ratio) sawBelowMin = true;
      if (size >= minBytes && dead / size < ratio) sawBelowRatio = true;
      expect(engine.hasBackgroundWork, `after op ${i}: size ${size}, dead ${dead}`).to.equal(due);
      expect(engine.stats().writeLogDeadBytes).to.equal(dead);
      if (due) triggeredAt = i;
    }
    expect(sawBelowMin, 'a tiny log at a high dead ratio was left alone').to.equal(true);
    expect(sawBelowRatio, 'a large enough log below the ratio was left alone').to.equal(true);
    expect(triggeredAt).to.be.greaterThan(0);
    const before = size;
    while (engine.backgroundStep());
    expect(engine.stats().compactions).to.equal(2); // the write log and its replica
    expect(fsz(wl)).to.equal(FILE_HEADER_BYTES + liveBytes(model));
    expect(fsz(wl)).to.be.lessThan(before / 2);
    expect(fsz(join(dir, 'read.log'))).to.equal(FILE_HEADER_BYTES + liveBytes(model));
    expect(engine.hasBackgroundWork).to.equal(false);
    const keys = ['hot', ...Array.from({ length: 150 }, (_, i) => `k${i}`)];
    expectEngineState(engine, model, keys);
    engine.close();
    const again = openEngine(nodeFileSystem, dir);
    expectEngineState(again, model, keys);
    again.close();
  });

  it('keeps every live value and every delete while writes continue between its steps, across reopen', () => {
    const dir = tmpDir();
    const engine = openEngine(nodeFileSystem, dir);
    const model = new Map<string, string>();
    const keys = Array.from({ length: 200 }, (_, i) => `key${i}`);
    for (let round = 0; round < 3; round++) {
      runOps(engine, keys.map((k): EngineOp => ['put', k, bytes(`${k}-r${round}`)]));
      for (const k of keys) model.set(k, `${k}-r${round}`);
    }
    for (const il of [engine.ws, engine.rs]) {
      const c = new Compaction(nodeFileSystem, dir, il, il === engine.ws, engine.ws.lastSeq);
      let step = 0;
      while (!c.step(300)) {
        // Overwrite keys already copied and keys not yet copied, delete some, add new ones.
        const k = keys[(step * 37) % keys.length]!;
        if (step % 3 === 0) { runOps(engine, [['delete', k]]); model.delete(k); } else {
          runOps(engine, [['put', k, bytes(`${k}-s${step}`)]]);
          model.set(k, `${k}-s${step}`);
        }
        runOps(engine, [['put', `new${step}`, bytes(`n${step}`)]]);
        model.set(`new${step}`, `n${step}`);
        step++;
      }
      expect(step).to.be.greaterThan(10);
    }
    const all = [...keys, ...Array.from({ length: 400 }, (_, i) => `new${i}`)];
    expectEngineState(engine, model, all);
    engine.close();
    const again = openEngine(nodeFileSystem, dir);
    expectEngineState(again, model, all);
    again.close();
  });

  it('runs in the background of an open store, shrinks both logs, and never resurrects a delete', async () => {
    const dir = tmpDir();
    const store = await openStore({ dir, compactRatio: 0.5, compactMinBytes: 64 * 1024 });
    const model = new Map<string, string>();
    for (let round = 0; round < 6; round++) {
      await Promise.all(Array.from({ length: 300 }, (_, i) => {
        const k = `p${i}`;
        if ((i + round) % 5 === 0) { model.delete(k); return store.delete(k); }
        const v = `${round}:${'z'.repeat(100)}`;
        model.set(k, v);
        return store.put(k, bytes(v));
      }));
    }
    const settled = (): boolean => {
      const m = store.metrics();
      const due = (size: number, dead: number): boolean => size >= 64 * 1024 && dead / size >= 0.5;
      return m.compactions >= 2 && !due(m.writeLogBytes, m.writeLogDeadBytes) && !due(m.readLogBytes, m.readLogDeadBytes);
    };
    await waitFor(settled, 'background compaction of both logs');
    for (let i = 0; i < 300; i++) expect(text(await store.get(`p${i}`)), `p${i}`).to.equal(model.get(`p${i}`));
    await store.close();
    const again = await openStore({ dir });
    for (let i = 0; i < 300; i++) expect(text(await again.get(`p${i}`)), `p${i}`).to.equal(model.get(`p${i}`));
    expect(again.metrics().writeCount).to.equal(model.size);
    // A forced compaction of a log that is all live leaves it the same size.
    await again.compact();
    const size = again.metrics().writeLogBytes;
    await again.compact();
    expect(again.metrics().writeLogBytes).to.equal(size);
    await again.close();
  });

  it('store.compact() runs in steps between ops: writes and reads are answered while it runs', async () => {
    const store = await openStore({ dir: tmpDir() });
    const big = new Uint8Array(32 * 1024).fill(1);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < 2000; i += 100) await store.batch(Array.from({ length: 100 }, (_, j) => ({ type: 'put' as const, key: `big${i + j}`, value: big })));
    }
    let compacted = false;
    const done = store.compact().then(() => { compacted = true; });
    let answeredDuring = 0;
    while (!compacted) {
      await store.put('live', bytes(String(answeredDuring)));
      expect(text(await store.get('live'))).to.equal(String(answeredDuring));
      if (!compacted) answeredDuring++;
    }
    await done;
    console.log(`      ${answeredDuring} put+get pairs answered while compact() ran`);
    expect(answeredDuring, 'ops were not held back until the compaction finished').to.be.greaterThan(3);
    expect(store.metrics().writeLogDeadBytes).to.be.below(store.metrics().writeLogBytes / 10);
    await store.close();
  });
});

describe('compaction: a replaced log gives its space back in slices', () => {
  /** Descriptors of this process still open on deleted files under `dir`. */
  const deletedFds = (dir: string): number => readdirSync('/proc/self/fd').filter((fd) => {
    try { const target = readlinkSync(`/proc/self/fd/${fd}`); return target.startsWith(dir) && target.endsWith('(deleted)'); } catch { return false; }
  }).length;

  for (const failTruncate of [false, true]) {
    it(`shrinks the old file 64 MiB per background step, then closes it${failTruncate ? ' (closed whole when shrinking fails)' : ''}`, function () {
      if (!existsSync('/proc/self/fd')) { console.log('      (skipped: no /proc/self/fd on this system)'); this.skip(); }
      const dir = tmpDir();
      const fs = new FaultFs();
      const e = openEngine(fs, dir, { compactMinBytes: 1 << 40 });
      const big = new Uint8Array(1 << 20);
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < 80; i += 8) runOps(e, Array.from({ length: 8 }, (_, j): EngineOp => ['put', `k${i + j}`, big]));
      }
      e.compactNow();
      expect(e.ws.log.retiringFiles + e.rs.log.retiringFiles).to.equal(2);
      expect(deletedFds(dir), 'the replaced logs are still open').to.equal(2);
      const truncates = (): number => fs.counts.get('truncate') ?? 0;
      if (failTruncate) fs.failWhen = (call) => (call === 'truncate' ? 'EIO' : undefined);
      const before = truncates();
      let steps = 0;
      while (e.hasBackgroundWork) { e.backgroundStep(); steps++; }
      fs.failWhen = undefined;
      expect(deletedFds(dir), 'both are closed').to.equal(0);
      // ~160 MiB per old log: cut in 64 MiB slices, one per step, then closed.
      if (!failTruncate) expect(truncates() - before).to.be.at.least(2);
      expect(steps).to.be.at.least(failTruncate ? 1 : 3);
      expect(Buffer.from(runOps(e, [['get', 'k3']])[0]!.value!).equals(Buffer.from(big))).to.equal(true);
      e.close();
    });
  }

  it('close() closes replaced logs not yet freed', function () {
    if (!existsSync('/proc/self/fd')) { console.log('      (skipped: no /proc/self/fd on this system)'); this.skip(); }
    const dir = tmpDir();
    const e = openEngine(nodeFileSystem, dir, { compactMinBytes: 1 << 40 });
    const big = new Uint8Array(1 << 20);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < 80; i += 8) runOps(e, Array.from({ length: 8 }, (_, j): EngineOp => ['put', `k${i + j}`, big]));
    }
    runOps(e, [['put', 'a', bytes('1')]]);
    e.compactNow();
    expect(deletedFds(dir), 'larger than one slice: still being freed').to.be.at.least(1);
    e.close();
    expect(deletedFds(dir)).to.equal(0);
  });
});
