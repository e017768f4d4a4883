import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeFileSystem } from '../src/engines/disk/thread/fs.js';
import { CorruptionError } from '../src/errors.js';
import { bytes, openEngine, runOps, text, tmpDir } from './helpers.js';

/*
 * Every combination of present/missing/extra files at open (issue 11 #12).
 * The rule under test:
 *   - write.log present: opens with every key; *.compact and *.tmp leftovers
 *     are deleted, a missing read.log is rebuilt from the write log, the hint
 *     is used only if it matches both logs;
 *   - write.log missing, and only a stale LOCK and/or write.log.tmp beside it
 *     (a crash during a store's very first open): opens as a new, empty store;
 *   - write.log missing beside anything else tickstore writes (read.log,
 *     index.hint, *.compact, read.log.tmp): no crash leaves that, so open is
 *     refused with a CorruptionError naming write.log and what was found, and
 *     the directory is left byte for byte as it was (the LOCK included).
 */

type Part = 'write.log' | 'read.log' | 'index.hint' | 'write.log.compact' | 'read.log.compact' | 'write.log.tmp' | 'read.log.tmp' | 'LOCK';
const PARTS: Part[] = ['write.log', 'read.log', 'index.hint', 'write.log.compact', 'read.log.compact', 'write.log.tmp', 'read.log.tmp', 'LOCK'];
const KEYS = 20;

/** A closed store's files (write.log, read.log, index.hint) plus plausible leftovers and a stale LOCK. */
function fixture(): Map<Part, Buffer> {
  const dir = tmpDir('fileset-src');
  const e = openEngine(nodeFileSystem, dir);
  for (let i = 0; i < KEYS; i++) runOps(e, [['put', `k${i}`, bytes(`v${i}`)]]);
  runOps(e, [['put', 'k0', bytes('v0')], ['delete', 'gone']]);
  e.close();
  const files = new Map<Part, Buffer>();
  for (const f of ['write.log', 'read.log', 'index.hint'] as const) files.set(f, readFileSync(join(dir, f)));
  // A compaction cut short: a prefix of the new file. A create cut short: a header-only temporary file.
  files.set('write.log.compact', files.get('write.log')!.subarray(0, 100));
  files.set('read.log.compact', files.get('read.log')!.subarray(0, 100));
  const head = files.get('write.log')!.subarray(0, 64);
  files.set('write.log.tmp', head);
  files.set('read.log.tmp', files.get('read.log')!.subarray(0, 64));
  // A LOCK whose owner is gone.
  files.set('LOCK', Buffer.from(`${spawnSync(process.execPath, ['-e', '0']).pid}\n`));
  return files;
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) out[f] = readFileSync(join(dir, f)).toString('base64');
  return out;
}

type Outcome = 'opens-with-data' | 'opens-empty' | 'refused';

/** The documented outcome of a file set (see the rule above). */
function expected(present: Set<Part>): Outcome {
  if (present.has('write.log')) return 'opens-with-data';
  const others = [...present].filter((p) => p !== 'LOCK' && p !== 'write.log.tmp');
  return others.length === 0 ? 'opens-empty' : 'refused';
}

describe('file sets at open (issue 11 #12)', () => {
  const files = fixture();

  it('a write.log missing beside a read.log with data is refused, not opened empty over the replica', () => {
    const dir = tmpDir('fileset');
    writeFileSync(join(dir, 'read.log'), files.get('read.log')!);
    const before = snapshot(dir);
    let err: unknown;
    try { openEngine(nodeFileSystem, dir).close(); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(CorruptionError);
    expect((err as CorruptionError).file).to.equal(join(dir, 'write.log'));
    expect((err as Error).message).to.match(/write log is missing while read\.log is present/);
    expect(snapshot(dir), 'nothing written').to.deep.equal(before);
  });

  it('every combination of write.log, read.log, index.hint, *.compact, *.tmp and a stale LOCK has its documented outcome', () => {
    const tally: Record<Outcome, number> = { 'opens-with-data': 0, 'opens-empty': 0, refused: 0 };
    for (let mask = 0; mask < 1 << PARTS.length; mask++) {
      const present = new Set(PARTS.filter((_, i) => mask & (1 << i)));
      const name = [...present].join('+') || '(empty)';
      const dir = tmpDir('fileset');
      for (const p of present) writeFileSync(join(dir, p), files.get(p)!);
      writeFileSync(join(dir, 'notes.txt'), 'the user\'s own file'); // never touched
      const before = snapshot(dir);
      const want = expected(present);
      tally[want]++;
      let engine;
      try { engine = openEngine(nodeFileSystem, dir); } catch (err) {
        expect(want, `${name}: refused with ${String(err)}`).to.equal('refused');
        expect(err, name).to.be.instanceOf(CorruptionError);
        const c = err as CorruptionError;
        expect(c.file, name).to.equal(join(dir, 'write.log'));
        for (const p of present) if (p !== 'LOCK' && p !== 'write.log.tmp') expect(c.message, `${name}: names ${p}`).to.include(p);
        expect(snapshot(dir), `${name}: byte for byte unchanged`).to.deep.equal(before);
        rmSync(dir, { recursive: true });
        continue;
      }
      expect(want, `${name}: opened`).to.not.equal('refused');
      const got = runOps(engine, Array.from({ length: KEYS }, (_, i) => ['get', `k${i}`] as ['get', string]));
      const stats = engine.stats();
      engine.close();
      const values = got.map((r) => text(r.value));
      if (want === 'opens-empty') expect(values.every((v) => v === undefined), name).to.equal(true);
      else {
        expect(values, name).to.deep.equal(Array.from({ length: KEYS }, (_, i) => `v${i}`));
        expect(stats.readKeys, `${name}: replica complete`).to.equal(KEYS);
        expect(stats.replicaRebuilt, `${name}: a missing replica counts as rebuilt`).to.equal(present.has('read.log') ? 0 : 1);
      }
      const after = readdirSync(dir).sort();
      expect(after, `${name}: leftovers removed, the user's file kept`).to.deep.equal(['index.hint', 'notes.txt', 'read.log', 'write.log']);
      // And it reopens the same (from the hint this time).
      const again = openEngine(nodeFileSystem, dir);
      expect(runOps(again, [['get', 'k1']])[0]!.found, name).to.equal(want === 'opens-with-data');
      again.close();
      expect(existsSync(join(dir, 'LOCK')), `${name}: lock released`).to.equal(false);
      rmSync(dir, { recursive: true });
    }
    console.log(`      file sets tried: ${1 << PARTS.length} (${tally['opens-with-data']} open with data, ${tally['opens-empty']} open empty, ${tally.refused} refused)`);
    expect(tally.refused).to.be.greaterThan(0);
  });
});
