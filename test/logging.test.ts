import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';
import type { Debugger } from 'debug';
import { FILE_HEADER_BYTES, entrySize } from '../src/engines/disk/thread/record.js';
import { openStore, type StoreMetrics } from '../src/index.js';
import { engineLog, storeLog } from '../src/log.js';
import { FaultFs } from './faultFs.js';
import { bytes, openEngine, runOps, tmpDir } from './helpers.js';

const FIXTURE = new URL('./fixtures/logged.ts', import.meta.url).pathname;

interface Run {
  code: number | null; stdout: string; stderr: string;
  out: Record<string, { metrics?: StoreMetrics; code?: string; message?: string; codes?: Record<string, number> }>;
}

/** Runs the fixture (`work` or `open` on `dir`) with DEBUG set to `debug` (undefined: unset); collects its output. */
function runFixture(mode: 'work' | 'open' | 'reopen', dir: string, debug: string | undefined, ...more: string[]): Promise<Run> {
  const env = { ...process.env };
  delete env.DEBUG;
  if (debug !== undefined) env.DEBUG = debug;
  const cp = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode, dir, ...more], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  cp.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
  cp.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
  return new Promise((resolve, reject) => {
    cp.on('error', reject);
    cp.on('close', (code) => {
      const out: Run['out'] = {};
      for (const line of stdout.split('\n').filter(Boolean)) {
        const o = JSON.parse(line) as Run['out'][string] & { at: string };
        out[o.at] = o;
      }
      resolve({ code, stdout, stderr, out });
    });
  });
}

/** The lines of `stderr` from `namespace` that contain `what`. */
function linesOf(stderr: string, namespace: string, what: string): string[] {
  return stderr.split('\n').filter((l) => l.includes(`${namespace} `) && l.includes(what));
}

/** The key=value figures of a log line, as numbers (or booleans). */
function figures(line: string): Record<string, number | boolean> {
  const f: Record<string, number | boolean> = {};
  for (const [, k, v] of line.matchAll(/(\w+)=(\S+)/g)) f[k!] = v === 'true' ? true : v === 'false' ? false : Number(v);
  const ms = /in ([\d.]+) ms/.exec(line);
  if (ms) f.ms = Number(ms[1]);
  return f;
}

/** Captures what `loggers` would print, in this process, while `fn` runs. */
async function captured(loggers: Debugger[], fn: () => unknown): Promise<string[]> {
  const lines: string[] = [];
  for (const l of loggers) {
    l.enabled = true;
    l.log = (...args: unknown[]) => { lines.push(format(...args)); };
  }
  try {
    await fn();
  } finally {
    for (const l of loggers) {
      (l as { enabled: boolean | null }).enabled = null; // back to what DEBUG says
      delete (l as Partial<Debugger>).log;
    }
  }
  return lines;
}

describe('logging (debug, tickstore:* namespaces)', function () {
  this.timeout(60_000);

  it('DEBUG=tickstore:* logs the open with its recovery figures (torn tail, hint unused), every compaction with its bytes, the close with its key counts; the next open uses the hint', async () => {
    const dir = tmpDir();
    const seed = await openStore({ dir });
    await Promise.all(Array.from({ length: 90 }, (_, i) => seed.put(`seed${i}`, bytes(`v${i}`))));
    await seed.close();
    // A torn tail, as a crash leaves it (with no hint): a plausible commit (a copy of the first entry, seed0) cut short.
    const wl = join(dir, 'write.log');
    unlinkSync(join(dir, 'index.hint'));
    const torn = entrySize(Buffer.byteLength('seed0'), Buffer.byteLength('v0')) - 3;
    appendFileSync(wl, readFileSync(wl).subarray(FILE_HEADER_BYTES, FILE_HEADER_BYTES + torn));

    const run = await runFixture('work', dir, 'tickstore:*');
    expect(run.code, run.stderr).to.equal(0);
    const atOpen = run.out.open!.metrics!;
    expect(atOpen.truncatedBytes, 'the fixture saw the torn tail').to.equal(torn);

    // Open: the engine (worker thread) and the facade (main thread) both say so, with the figures.
    const [engineOpen, ...moreEngineOpens] = linesOf(run.stderr, 'tickstore:engine', `opened ${dir} `);
    expect(moreEngineOpens).to.deep.equal([]);
    expect(figures(engineOpen!)).to.include({ hintUsed: false, truncatedBytes: torn, writeKeys: 90, readKeys: 90, replicaRepaired: 0, replicaRebuilt: false });
    const [storeOpen] = linesOf(run.stderr, 'tickstore:store', `opened ${dir} (disk) `);
    expect(figures(storeOpen!)).to.include({ hintUsed: false, truncatedBytes: torn, writeKeys: 90, readKeys: 90, replicaRepaired: 0, replicaRebuilt: false });
    expect(figures(storeOpen!).ms).to.be.a('number').and.greaterThan(0);

    // Compactions: one line per compaction, each shrinking its log.
    const before = run.out['before-compact']!.metrics!;
    const after = run.out['after-compact']!.metrics!;
    const compacted = linesOf(run.stderr, 'tickstore:engine', 'compacted ');
    expect(compacted, 'every compaction is logged').to.have.length(after.compactions);
    expect(linesOf(run.stderr, 'tickstore:engine', `compacted ${wl}:`).length, 'background ones included').to.be.greaterThan(1);
    for (const l of compacted) expect(figures(l).bytesAfter, l).to.be.lessThan(figures(l).bytesBefore as number);
    // The forced compaction (the last of each log) matches the store's own figures exactly.
    const lastOf = (log: string): Record<string, number | boolean> => figures(linesOf(run.stderr, 'tickstore:engine', `compacted ${join(dir, log)}:`).at(-1)!);
    expect(lastOf('write.log')).to.include({
      bytesBefore: before.writeLogBytes, deadBytesBefore: before.writeLogDeadBytes, bytesAfter: after.writeLogBytes, keys: 330,
    });
    expect(lastOf('read.log')).to.include({ bytesBefore: before.readLogBytes, deadBytesBefore: before.readLogDeadBytes, bytesAfter: after.readLogBytes });
    expect(before.writeLogDeadBytes, 'the overwrites after the background compactions').to.be.greaterThan(0);
    expect(after.writeLogBytes).to.equal(before.writeLogBytes - before.writeLogDeadBytes);

    // Close: 90 seeded keys + 240 of the fixture's 300 live.
    const [storeClose] = linesOf(run.stderr, 'tickstore:store', `closed ${dir} `);
    expect(figures(storeClose!)).to.include({ writeKeys: 330, readKeys: 330 });
    // The engine thread's own close line is not asserted: written to the worker's stderr just
    // before worker.terminate(), it is sometimes dropped before Node forwards it (known gap).

    // The next open takes the index from the hint the clean close left: nothing to truncate.
    const again = await runFixture('open', dir, 'tickstore:*');
    expect(again.code, again.stderr).to.equal(0);
    expect(figures(linesOf(again.stderr, 'tickstore:engine', `opened ${dir} `)[0]!)).to.include({ hintUsed: true, truncatedBytes: 0, writeKeys: 330 });
    expect(figures(linesOf(again.stderr, 'tickstore:store', `opened ${dir} (disk) `)[0]!)).to.include({ hintUsed: true, truncatedBytes: 0, writeKeys: 330, readKeys: 330 });
    expect(linesOf(again.stderr, 'tickstore:engine', 'compacted '), 'nothing compacted in that run').to.deep.equal([]);
  });

  it('is silent without DEBUG, and when DEBUG names only other namespaces', async () => {
    const dir = tmpDir();
    const quiet = await runFixture('work', dir, undefined);
    expect(quiet.code, quiet.stderr).to.equal(0);
    expect(quiet.out.closed, 'the run did its work').to.not.equal(undefined);
    expect(quiet.out['after-compact']!.metrics!.compactions).to.be.greaterThan(2);
    expect(quiet.stderr).to.not.contain('tickstore');
    const other = await runFixture('open', dir, 'colyseus:*,express:*');
    expect(other.code, other.stderr).to.equal(0);
    expect(other.out.closed).to.not.equal(undefined);
    expect(other.stderr).to.not.contain('tickstore');
    // Only the engine enabled: the facade stays quiet.
    const engineOnly = await runFixture('open', dir, 'tickstore:engine');
    expect(linesOf(engineOnly.stderr, 'tickstore:engine', `opened ${dir} `)).to.have.length(1);
    expect(engineOnly.stderr).to.not.contain('tickstore:store');
  });

  it('logs a lock refusal with the pid holding the directory, and the failed open with its error code', async () => {
    const dir = tmpDir();
    const holder = await openStore({ dir });
    try {
      const run = await runFixture('open', dir, 'tickstore:*');
      expect(run.code, run.stderr).to.equal(0);
      expect(run.out['open-failed']?.code, run.stdout + run.stderr).to.equal('STORE_LOCKED');
      expect(linesOf(run.stderr, 'tickstore:engine', `open ${dir} refused: locked by process ${process.pid}`)).to.have.length(1);
      const [failed, ...more] = linesOf(run.stderr, 'tickstore:store', `open ${dir} failed after `);
      expect(more).to.deep.equal([]);
      expect(failed).to.contain(`STORE_LOCKED: store directory ${dir} is locked by process ${process.pid}`);
      expect(linesOf(run.stderr, 'tickstore:store', 'opened ')).to.deep.equal([]);

      // Regression: the engine thread posts why its open failed and exits; the exit must not win the race
      // and turn the StoreLockedError into "engine thread exited" (seen in ~1 % of opens with the log on).
      const again = await runFixture('reopen', dir, 'tickstore:engine', '60');
      expect(again.out.reopened?.codes, again.stdout + again.stderr).to.deep.equal({ STORE_LOCKED: 60 });
      expect(linesOf(again.stderr, 'tickstore:engine', `open ${dir} refused: locked by process ${process.pid}`)).to.have.length(60);
    } finally { await holder.close(); }
  });

  it('logs a failed fsync with its syscall code and the bytes held, each failed retry, and the heal that clears it', async () => {
    const dir = tmpDir();
    const fs = new FaultFs();
    let held = 0;
    const lines = await captured([engineLog], () => {
      const engine = openEngine(fs, dir, { flushPolicy: { mode: 'grouped', intervalMs: 1_000_000 } });
      runOps(engine, [['put', 'a', bytes('1')], ['put', 'b', bytes('22')]]);
      held = engine.ws.unsyncedBytes;
      expect(held, 'one group: two entries').to.equal(entrySize(1, 1) + entrySize(1, 2));
      fs.failWhen = (call) => (call === 'datasync' ? 'EIO' : undefined);
      expect(runOps(engine, [['flush']])[0]!.ok).to.equal(false);
      expect(runOps(engine, [['flush']])[0]!.ok, 'the retry fails too').to.equal(false);
      fs.failWhen = undefined;
      expect(runOps(engine, [['flush']])[0]!.ok, 'healed').to.equal(true);
      engine.close();
    });
    const wl = join(dir, 'write.log');
    const failed = lines.filter((l) => l.includes(`flush failed on ${wl} `));
    expect(failed).to.have.length(2);
    expect(failed[0]).to.contain('failure 1;').and.contain('IO_ERROR (EIO):').and.contain('fsync failed');
    expect(failed[1]).to.contain('failure 2;').and.contain('IO_ERROR (EIO):').and.contain('rewriting the unsynced writes failed');
    expect(figures(failed[0]!).unsyncedBytes, 'the bytes held for the rewrite').to.equal(held);
    const healed = lines.filter((l) => l.includes(`flush error on ${wl} healed`));
    expect(healed).to.have.length(1);
    expect(healed[0]).to.contain(`${held} unsynced bytes rewritten`).and.contain('after 2 failures');
    expect(lines.filter((l) => l.includes(`closed ${dir}:`))).to.have.length(1);
  });

  it('the memory backend logs its open and close on the main thread too; nothing is logged per op', async () => {
    const lines = await captured([storeLog, engineLog], async () => {
      const s = await openStore({ dir: 'log-mem', backend: 'memory' });
      await Promise.all(Array.from({ length: 50 }, (_, i) => s.put(`k${i}`, bytes('x'))));
      for (let i = 0; i < 20; i++) await s.get(`k${i}`);
      await s.close();
    });
    expect(lines.filter((l) => l.includes('tickstore:store opened log-mem (memory) '))).to.have.length(1);
    expect(lines.filter((l) => l.includes('tickstore:engine opened log-mem '))).to.have.length(1);
    const [closed] = lines.filter((l) => l.includes('tickstore:store closed log-mem '));
    expect(figures(closed!)).to.include({ writeKeys: 50, readKeys: 50 });
    expect(lines, lines.join('\n')).to.have.length(4); // opened ×2, closed ×2: 70 ops, no line for any of them
  });
});
