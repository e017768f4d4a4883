import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openStore, StoreLockedError } from '../src/index.js';
import { sleep, tmpDir } from './helpers.js';

const WRITER = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
const CYCLES = Number(process.env.TICKSTORE_CRASH_CYCLES ?? 4);

function child(dir: string, mode?: string, flush = 'immediate'): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', WRITER, dir, ...(mode ? [mode] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TICKSTORE_FLUSH: flush } });
}

function waitLine(cp: ChildProcess, pred: (line: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    cp.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      if (lines.some(pred)) resolve();
    });
    cp.once('exit', (code) => reject(new Error(`child exited (${code}) before the expected line`)));
  });
}

describe('crash safety (SIGKILL)', function () {
  this.timeout(120_000);

  // A killed process loses nothing acknowledged under either flush policy: grouped writes sit in the page cache, which survives.
  for (const flush of ['immediate', 'grouped']) it(`a writer killed with SIGKILL loses no acknowledged write (${flush} flush policy, ${CYCLES} kill/reopen cycles)`, async () => {
    const dir = tmpDir();
    /** Per key, the index of its last acknowledged op. */
    const lastAck = new Map<string, number>();
    let base = 0;
    let totalAcks = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const cp = child(dir, String(base), flush);
      let buf = '';
      const lines: string[] = [];
      cp.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        lines.push(...parts);
      });
      // Let it write for a random while, then kill it mid-flight.
      const target = 300 + Math.floor(Math.random() * 3000);
      const deadline = Date.now() + 30_000;
      while (lines.length < target && Date.now() < deadline) await sleep(5);
      cp.kill('SIGKILL');
      await new Promise((r) => cp.once('exit', r));
      expect(lines.length, 'the child wrote before it was killed').to.be.greaterThan(100);
      for (const l of lines) {
        const [, idx, , key] = l.split(' ') as [string, string, string, string];
        const i = Number(idx);
        if (i > (lastAck.get(key) ?? -1)) lastAck.set(key, i);
        totalAcks++;
      }
      // At most 64 ops were in flight past the acknowledged ones.
      const maxIssued = base + lines.length + 64;
      const isDelete = (i: number): boolean => i % 11 === 5;
      const store = await openStore({ dir });
      try {
        for (const [key, a] of lastAck) {
          const got = await store.get(key);
          const k = Number(key.slice(1));
          // Ops on this key issued after its last ack: they may have landed, unacknowledged.
          const later: number[] = [];
          for (let j = a + 500; j <= maxIssued; j += 500) if (j % 500 === k) later.push(j);
          if (got === undefined) {
            expect(isDelete(a) || later.some(isDelete), `${key}: acknowledged op ${a} lost`).to.equal(true);
          } else {
            const j = Number(Buffer.from(got).toString().replace(/#+$/, '').slice(1));
            expect(j === a || later.includes(j), `${key}: holds v${j}, acknowledged op ${a}`).to.equal(true);
            expect(isDelete(j)).to.equal(false);
          }
        }
        const m = store.metrics();
        expect(m.readCount).to.equal(m.writeCount);
      } finally { await store.close(); }
      base = maxIssued + 1;
    }
    console.log(`      crash cycles: ${CYCLES}, acknowledged writes checked: ${totalAcks}`);
  });
});

describe('one process per directory', () => {
  it('a second process opening the same directory is refused with StoreLockedError', async function () {
    this.timeout(30_000);
    const dir = tmpDir();
    const holder = child(dir, 'hold');
    try {
      await waitLine(holder, (l) => l === 'opened');
      let caught: unknown;
      try { await openStore({ dir }); } catch (e) { caught = e; }
      expect(caught).to.be.instanceOf(StoreLockedError);
      expect((caught as StoreLockedError).holderPid).to.equal(holder.pid);
      expect((caught as Error).message).to.contain(dir);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    // The holder died without releasing: its stale lock is taken over.
    const s = await openStore({ dir });
    await s.close();
  });

  it('a second open in the same process is refused too, and allowed after close', async () => {
    const dir = tmpDir();
    const a = await openStore({ dir });
    let caught: unknown;
    try { await openStore({ dir }); } catch (e) { caught = e; }
    expect(caught).to.be.instanceOf(StoreLockedError);
    await a.close();
    const b = await openStore({ dir });
    await b.close();
  });
});
