import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { CorruptionError, StoreIOError, StoreLockedError, createRegistry, openStore, type Store } from '../src/index.js';
import { dropMemoryDir } from '../src/engines/memory/memFs.js';
import type { WorkerBackend } from '../src/engines/disk/backend.js';
import { bytes, text, tmpDir } from './helpers.js';

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) { if (Date.now() > end) throw new Error('timed out'); await new Promise((r) => setTimeout(r, 10)); }
}

/** What `f` throws (undefined if it returns). */
function settleSync(f: () => unknown): unknown {
  try { f(); return undefined; } catch (err) { return err; }
}

/** The engine thread behind a disk store (a crash, OOM or process.exit in it looks like this thread ending). */
const engineThread = (s: Store): NonNullable<WorkerBackend['engineThread']> =>
  (s as unknown as { backend: WorkerBackend }).backend.engineThread!;

const isEngineDeath = (e: unknown): boolean => e instanceof StoreIOError && e.syscallCode === 'EENGINE';

/** What `p` settles to: its value, or the error it rejected with. */
async function settle<T>(p: Promise<T>): Promise<T | unknown> {
  try { return await p; } catch (err) { return err; }
}

describe('hardening: store lifecycle', () => {
  describe('a refused open reports its real cause (defect 4)', () => {
    /** `n` refused opens of `dir` (each engine thread's end racing its message); counts what each rejected with. */
    async function refusals(dir: string, n: number, expected: (e: unknown) => boolean): Promise<Record<string, number>> {
      const kinds = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const e = await settle(openStore({ dir }));
        const kind = expected(e) ? 'expected' : `${(e as Error).constructor.name}: ${(e as Error).message}`;
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
      return Object.fromEntries(kinds);
    }

    it('150 opens of a damaged log: 150 CorruptionErrors', async () => {
      const dir = tmpDir();
      const s = await openStore({ dir });
      await s.put('k', bytes('v'));
      await s.close();
      const wl = join(dir, 'write.log');
      const buf = readFileSync(wl);
      buf[3]! ^= 0xff; // the file header: refused at every open
      writeFileSync(wl, buf);
      expect(await refusals(dir, 150, (e) => e instanceof CorruptionError)).to.deep.equal({ expected: 150 });
    });

    it('30 opens of a locked directory: 30 StoreLockedErrors naming this process', async () => {
      const dir = tmpDir();
      const holder = await openStore({ dir });
      try {
        const locked = (e: unknown): boolean => e instanceof StoreLockedError && e.holderPid === process.pid;
        expect(await refusals(dir, 30, locked)).to.deep.equal({ expected: 30 });
      } finally { await holder.close(); }
    });
  });

  describe('the memory backend keeps the disk rules (defect 14)', () => {
    it('relative dirs and "." work and name the same store as their resolved path', async () => {
      const abs = tmpDir();
      const rel = relative(process.cwd(), abs);
      const a = await openStore({ dir: `./${rel}`, backend: 'memory' });
      await a.put('k', bytes('v'));
      await a.close();
      const b = await openStore({ dir: abs, backend: 'memory' });
      expect(text(await b.get('k'))).to.equal('v');
      await b.close();
      const dot = await openStore({ dir: '.', backend: 'memory' });
      await dot.put('here', bytes('1'));
      await dot.close();
      const cwd = await openStore({ dir: process.cwd(), backend: 'memory' });
      expect(text(await cwd.get('here'))).to.equal('1');
      await cwd.close();
      dropMemoryDir('.');
      const fresh = await openStore({ dir: '.', backend: 'memory' });
      expect(await fresh.get('here'), 'dropped: a fresh memory dir').to.equal(undefined);
      await fresh.close();
      dropMemoryDir('.');
    });

    it('close then open of the same dir sees the data; a second open while open is StoreLockedError', async () => {
      const dir = join(tmpDir(), 'mem');
      const a = await openStore({ dir, backend: 'memory' });
      await a.put('k', bytes('kept'));
      const second = await settle(openStore({ dir, backend: 'memory' }));
      expect(second).to.be.instanceOf(StoreLockedError);
      expect((second as StoreLockedError).holderPid).to.equal(process.pid);
      await a.close();
      const b = await openStore({ dir, backend: 'memory' });
      expect(text(await b.get('k'))).to.equal('kept');
      await b.close();
    });

    it('a memory dir and the disk dir of the same path are independent', async () => {
      const dir = tmpDir();
      const disk = await openStore({ dir });
      const mem = await openStore({ dir, backend: 'memory' });
      await mem.put('k', bytes('m'));
      expect(await disk.get('k')).to.equal(undefined);
      await mem.close();
      await disk.close();
    });
  });

  describe('an engine thread that dies (gap B)', () => {
    it('fails pending and new ops typed, releases the LOCK, and a reopen in this process sees the acknowledged data', async () => {
      const dir = tmpDir();
      const s = await openStore({ dir });
      for (let i = 0; i < 50; i++) await s.put(`k${i}`, bytes(`v${i}`));
      // Issued as the thread is being killed: in flight when it ends.
      const killed = engineThread(s).terminate();
      const pending = Array.from({ length: 300 }, (_, i) => settle(s.put(`p${i}`, bytes(`w${i}`))));
      await killed;
      const outcomes = await Promise.all(pending);
      const acked = outcomes.flatMap((o, i) => (o === undefined ? [i] : []));
      const failed = outcomes.filter((o) => o !== undefined);
      expect(failed.length, 'some ops were still in flight').to.be.greaterThan(0);
      expect(failed.filter((e) => !isEngineDeath(e))).to.deep.equal([]);

      // Later ops: typed, at once (promise forms reject; ticker forms throw at the call, as on a closed store).
      expect(isEngineDeath(await settle(s.get('k1', { cacheOnRead: false })))).to.equal(true);
      expect(isEngineDeath(await settle(s.put('late', bytes('x'))))).to.equal(true);
      expect(isEngineDeath(await settle(s.flush()))).to.equal(true);
      const t = s.ticker();
      expect(isEngineDeath(settleSync(() => t.put('late2', bytes('y'))))).to.equal(true);
      expect(isEngineDeath(settleSync(() => t.get('k2', { cacheOnRead: false })))).to.equal(true);

      // The dead engine's LOCK is gone: this process reopens the directory, with every acknowledged write.
      const again = await openStore({ dir });
      try {
        for (let i = 0; i < 50; i++) expect(text(await again.get(`k${i}`)), `k${i}`).to.equal(`v${i}`);
        for (const i of acked) expect(text(await again.get(`p${i}`)), `p${i}`).to.equal(`w${i}`);
        expect(await again.get('late')).to.equal(undefined);
      } finally { await again.close(); }
      expect(isEngineDeath(await settle(s.close())), 'close() reports the death').to.equal(true);
    });

    it('close() right after the death waits for the LOCK release, then the directory opens', async () => {
      const dir = tmpDir();
      const s = await openStore({ dir });
      await s.put('k', bytes('v'));
      await engineThread(s).terminate();
      expect(isEngineDeath(await settle(s.close()))).to.equal(true);
      const again = await openStore({ dir });
      expect(text(await again.get('k'))).to.equal('v');
      await again.close();
    });
  });

  describe('after the engine thread died (review)', () => {
    it('health() reports the dead engine', async () => {
      const s = await openStore({ dir: tmpDir() });
      expect(s.health().ok).to.equal(true);
      await engineThread(s).terminate();
      const h = s.health();
      expect(h.ok).to.equal(false);
      expect(h.problems.map((p) => p.kind)).to.deep.equal(['engine-dead']);
      await s.close().catch(() => undefined);
    });

    it('the registry hands out a fresh store, not the dead or closed one, while old references are still held', async () => {
      const registry = createRegistry(tmpDir());
      const first = await registry.open('world');
      await first.store.put('k', bytes('v'));
      await engineThread(first.store).terminate();
      const second = await registry.open('world');
      expect(second.store).to.not.equal(first.store);
      expect(text(await second.store.get('k')), 'the acknowledged write').to.equal('v');
      await first.release(); // an old reference's release leaves the new store open
      await second.store.put('k2', bytes('v2'));
      await second.store.close(); // closed under the registry
      const third = await registry.open('world');
      expect(third.store.isClosed).to.equal(false);
      expect(text(await third.store.get('k2'))).to.equal('v2');
      await second.release();
      await third.release();
      expect(registry.openIds).to.deep.equal([]);
    });
  });

  describe('a LOCK whose pid lives but is another process now (review: a container restarted as pid 1)', () => {
    const HOST = Buffer.from(hostname(), 'utf8').toString('hex');
    const BOOT = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    const startOf = (pid: number): string => { const stat = readFileSync(`/proc/${pid}/stat`, 'latin1'); return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!; };
    const identity = (pid: number, host = HOST): string => `${BOOT()}:${startOf(pid)}:${host}`;
    const lockOf = (pid: number, ident: string): string => `${pid}\n1.deadbeefdeadbeef\n${ident}\n`;
    const opens = async (dir: string): Promise<unknown> => {
      try { await (await openStore({ dir })).close(); return 'opened'; } catch (e) { return e; }
    };

    it('a LOCK naming this very pid with another start time (an earlier incarnation) is taken over', async function () {
      if (!existsSync('/proc/self/stat')) { console.log('      SKIPPED: no /proc on this system'); this.skip(); }
      const dir = tmpDir();
      const s0 = await openStore({ dir });
      await s0.put('k', bytes('v'));
      await s0.close();
      writeFileSync(join(dir, 'LOCK'), lockOf(process.pid, `${BOOT()}:1:${HOST}`));
      const s = await openStore({ dir });
      expect(text(await s.get('k'))).to.equal('v');
      // The LOCK it wrote names this process as it is: a second open here is refused.
      expect(readFileSync(join(dir, 'LOCK'), 'latin1')).to.match(new RegExp(`^${process.pid}\\n\\d+\\.[0-9a-f]+\\n${identity(process.pid)}\\n$`));
      let caught: unknown;
      try { await openStore({ dir }); } catch (e) { caught = e; }
      expect(caught).to.be.instanceOf(StoreLockedError);
      await s.close();
    });

    it('a live other process: refused with its true start time, taken over with another', async function () {
      if (!existsSync('/proc/self/stat')) { console.log('      SKIPPED: no /proc on this system'); this.skip(); }
      const other = spawn('sleep', ['30'], { stdio: 'ignore' });
      try {
        await new Promise((r) => setTimeout(r, 50));
        const pid = other.pid!;
        const dir = tmpDir();
        await (await openStore({ dir })).close();
        writeFileSync(join(dir, 'LOCK'), lockOf(pid, identity(pid)));
        let caught: unknown;
        try { await openStore({ dir }); } catch (e) { caught = e; }
        expect(caught).to.be.instanceOf(StoreLockedError);
        expect((caught as StoreLockedError).holderPid).to.equal(pid);
        writeFileSync(join(dir, 'LOCK'), lockOf(pid, `${BOOT()}:${Number(startOf(pid)) + 1}:${HOST}`));
        expect(await opens(dir), 'the same pid, another start time').to.equal('opened');
        writeFileSync(join(dir, 'LOCK'), lockOf(pid, `00000000-0000-0000-0000-000000000000:${startOf(pid)}:${HOST}`));
        expect(await opens(dir), 'a LOCK of an earlier boot').to.equal('opened');
      } finally { other.kill('SIGKILL'); }
    });

    it('a LOCK written under another host name is never taken over from here, even if its pid is not ours (two containers on one volume)', async function () {
      if (!existsSync('/proc/self/stat')) { console.log('      SKIPPED: no /proc on this system'); this.skip(); }
      const dir = tmpDir();
      await (await openStore({ dir })).close();
      const otherHost = Buffer.from('another-container', 'utf8').toString('hex');
      for (const pid of [process.pid, 1, 2 ** 22 + 12345]) {
        writeFileSync(join(dir, 'LOCK'), lockOf(pid, `${BOOT()}:1:${otherHost}`));
        const got = await opens(dir);
        expect(got, `pid ${pid}`).to.be.instanceOf(StoreLockedError);
      }
    });

    it('close() removes only its own LOCK, never one that another holder put there', async () => {
      const dir = tmpDir();
      const s = await openStore({ dir });
      const other = lockOf(1, `${BOOT()}:1:${Buffer.from('elsewhere', 'utf8').toString('hex')}`);
      writeFileSync(join(dir, 'LOCK'), other);
      await s.close();
      expect(readFileSync(join(dir, 'LOCK'), 'latin1')).to.equal(other);
    });

    it('a zombie holder (killed, not yet reaped) does not hold the directory', async function () {
      if (!existsSync('/proc/self/stat')) { console.log('      SKIPPED: no /proc on this system'); this.skip(); }
      // sh starts a child, kills it, then becomes a sleep that never reaps it.
      const parent = spawn('sh', ['-c', 'sleep 30 & echo $!; kill -9 $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
      try {
        const zombie = Number(await new Promise<string>((r) => parent.stdout!.once('data', (d: Buffer) => r(d.toString().trim()))));
        await waitUntil(() => readFileSync(`/proc/${zombie}/stat`, 'latin1').split(') ')[1]!.startsWith('Z'));
        const dir = tmpDir();
        await (await openStore({ dir })).close();
        writeFileSync(join(dir, 'LOCK'), `${zombie}\n`);
        expect(await opens(dir)).to.equal('opened');
      } finally { parent.kill('SIGKILL'); }
    });
  });
});
