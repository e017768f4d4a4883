import { expect } from 'chai';
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StoreLockedError } from '../src/errors.js';
import { DirLock } from '../src/engines/disk/thread/lock.js';
import { MemFileSystem } from '../src/engines/memory/memFs.js';
import { FaultFs } from './faultFs.js';
import { tmpDir } from './helpers.js';

const RACER = new URL('./fixtures/lockRacer.ts', import.meta.url).pathname;
const PROCESSES = 8;
const ROUNDS = Number(process.env.TICKSTORE_LOCK_ROUNDS ?? 200);

type Answer = { round: number; outcome: string };

/** A pid that no process has now: a child that already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

describe('directory lock: racing processes', () => {
  it(`${PROCESSES} processes over ${ROUNDS} rounds, with stale, empty and garbage LOCKs seeded: never two holders`, async function () {
    const base = tmpDir('lockrace');
    const dir = join(base, 'store');
    const markerDir = join(base, 'marker');
    mkdirSync(dir);
    mkdirSync(markerDir);
    const racers: ChildProcess[] = [];
    const inbox: Answer[] = [];
    let wake: (() => void) | undefined;
    try {
      for (let i = 0; i < PROCESSES; i++) {
        const cp = fork(RACER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        cp.on('message', (m: Answer) => { inbox.push(m); wake?.(); });
        racers.push(cp);
      }
      const answers = async (n: number): Promise<Answer[]> => {
        while (inbox.length < n) await new Promise<void>((r) => { wake = r; });
        return inbox.splice(0, n);
      };
      expect((await answers(PROCESSES)).map((a) => a.outcome)).to.deep.equal(Array(PROCESSES).fill('ready'));

      const totals = new Map<string, number>();
      const dead = deadPid();
      for (let round = 0; round < ROUNDS; round++) {
        // Seeded: a LOCK whose holder died, an empty one (a crash between create and write), garbage, a dead racer's candidate.
        const seed = round % 5;
        if (seed === 1) writeFileSync(join(dir, 'LOCK'), `${dead}\n0.0123456789abcdef\n`);
        if (seed === 2) writeFileSync(join(dir, 'LOCK'), '');
        if (seed === 3) writeFileSync(join(dir, 'LOCK'), 'not a lock\u0000');
        if (seed === 4) { writeFileSync(join(dir, 'LOCK'), `${dead}\n`); writeFileSync(join(dir, `LOCK.${dead}.0.feedface`), `${dead}\n0.feedface\n`); }
        for (const cp of racers) cp.send({ round, dir, markerDir });
        const got = await answers(PROCESSES);
        const outcomes = got.map((a) => a.outcome);
        for (const o of outcomes) totals.set(o, (totals.get(o) ?? 0) + 1);
        expect(outcomes.filter((o) => o !== 'held' && o !== 'locked'), `round ${round}`).to.deep.equal([]);
        expect(outcomes.filter((o) => o === 'held').length, `round ${round}: someone holds`).to.be.greaterThan(0);
        // Every lock file went: released, stale ones taken over, dead candidates cleaned.
        expect(readdirSync(dir), `round ${round}`).to.deep.equal([]);
      }
      console.log(`      lock race: ${ROUNDS} rounds × ${PROCESSES} processes raced: ${JSON.stringify(Object.fromEntries(totals))}, 0 double holders`);
    } finally {
      for (const cp of racers) cp.kill();
    }
  });
});

/** The content of a file in `fs`, or undefined. */
function content(fs: MemFileSystem, path: string): string | undefined {
  if (!fs.exists(path)) return undefined;
  const fd = fs.open(path, 'r');
  try {
    const buf = Buffer.alloc(256);
    return buf.toString('latin1', 0, fs.read(fd, buf, 0, buf.length, 0));
  } finally { fs.close(fd); }
}

function put(fs: MemFileSystem, path: string, text: string): void {
  const fd = fs.open(path, 'w');
  try { fs.write(fd, Buffer.from(text, 'latin1'), 0, text.length, 0); } finally { fs.close(fd); }
}

const claimOf = (stale: string): string => `/d/LOCK.claim.${createHash('sha256').update(stale, 'latin1').digest('hex').slice(0, 32)}`;

describe('directory lock: the takeover protocol step by step', () => {
  const dead = deadPid();
  const staleLock = `${dead}\n0.0123456789abcdef\n`;
  const fresh = (): MemFileSystem => { const fs = new MemFileSystem(); fs.mkdirp('/d'); return fs; };

  it('a stale LOCK replaced by a live holder while the taker won its claim is left alone', () => {
    const live = `${process.ppid}\n7.feedfacecafebeef\n`;
    const fs = new class extends MemFileSystem {
      override link(existing: string, to: string): void {
        super.link(existing, to);
        // Another process took the stale LOCK over in between: ours read it before, and claims it now.
        if (to.includes('.claim.') && content(this, '/d/LOCK') === staleLock) { this.unlink('/d/LOCK'); put(this, '/d/LOCK', live); }
      }
    }();
    fs.mkdirp('/d');
    put(fs, '/d/LOCK', staleLock);
    let caught: unknown;
    try { DirLock.acquire(fs, '/d'); } catch (err) { caught = err; }
    expect(caught).to.be.instanceOf(StoreLockedError);
    expect((caught as StoreLockedError).holderPid).to.equal(process.ppid);
    expect(content(fs, '/d/LOCK')).to.equal(live);
    expect(fs.readdir('/d')).to.deep.equal(['LOCK']);
  });

  it('a claim left by a taker that died is taken over, and every leftover goes', () => {
    const fs = fresh();
    put(fs, '/d/LOCK', staleLock);
    put(fs, claimOf(staleLock), `${dead}\n3.abcdef0123456789\n`);
    put(fs, `/d/LOCK.${dead}.3.abcdef0123456789`, `${dead}\n3.abcdef0123456789\n`);
    const lock = DirLock.acquire(fs, '/d');
    expect(fs.readdir('/d')).to.deep.equal(['LOCK']);
    expect(content(fs, '/d/LOCK')).to.match(new RegExp(`^${process.pid}\n\\d+\\.[0-9a-f]{16}\n$`));
    lock.release();
    expect(fs.readdir('/d')).to.deep.equal([]);
  });

  it('a claim a live process holds is waited for, then refused as locked by it', () => {
    const fs = fresh();
    put(fs, '/d/LOCK', staleLock);
    put(fs, claimOf(staleLock), `${process.ppid}\n3.abcdef0123456789\n`);
    let caught: unknown;
    try { DirLock.acquire(fs, '/d'); } catch (err) { caught = err; }
    expect(caught).to.be.instanceOf(StoreLockedError);
    expect((caught as StoreLockedError).holderPid).to.equal(process.ppid);
    expect(fs.readdir('/d').sort()).to.deep.equal(['LOCK', claimOf(staleLock).slice(3)].sort());
  });

  it('a LOCK of an earlier version (just the pid) is held while that pid lives, taken over once it is dead', () => {
    const fs = fresh();
    put(fs, '/d/LOCK', `${process.ppid}\n`);
    expect(() => DirLock.acquire(fs, '/d')).to.throw(StoreLockedError);
    fs.unlink('/d/LOCK');
    put(fs, '/d/LOCK', `${dead}\n`);
    DirLock.acquire(fs, '/d').release();
    expect(fs.readdir('/d')).to.deep.equal([]);
  });

  it('a failed link is reported as itself and leaves no file; a failure tidying up after the LOCK is held does not fail it', () => {
    const mem = fresh();
    const fs = new FaultFs(mem);
    fs.failWhen = (call) => (call === 'link' ? 'EIO' : undefined);
    expect(() => DirLock.acquire(fs, '/d')).to.throw(/EIO/);
    expect(mem.readdir('/d')).to.deep.equal([]);
    fs.failWhen = (call) => (call === 'readdir' || call === 'unlink' ? 'EIO' : undefined);
    DirLock.acquire(fs, '/d');
    expect(mem.readdir('/d')).to.include('LOCK');
    expect(() => DirLock.acquire(new FaultFs(mem), '/d')).to.throw(StoreLockedError);
  });
});
