import { expect } from 'chai';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeFileSystem } from '../src/engines/disk/thread/fs.js';
import { LogFile } from '../src/engines/disk/thread/logFile.js';
import { ENTRY_HEADER_BYTES, EntryType, FILE_HEADER_BYTES, LogKind, entrySize, writeEntry } from '../src/engines/disk/thread/record.js';
import { LogScrub } from '../src/engines/disk/thread/scrub.js';
import { openStore } from '../src/index.js';
import { tmpDir, waitFor } from './helpers.js';

/** A write log holding `values` (one PUT each), and the offset of each entry. */
function logWith(values: number[]): { log: LogFile; offsets: number[] } {
  const dir = tmpDir('scrub');
  const log = LogFile.open(nodeFileSystem, dir, 'write.log', LogKind.Write, false);
  const offsets: number[] = [];
  values.forEach((size, i) => {
    const key = Buffer.from(`k${i}`);
    const buf = Buffer.alloc(entrySize(key.length, size));
    writeEntry(buf, 0, EntryType.Put, 1, i + 1, key, Buffer.alloc(size, i & 0xff));
    offsets.push(log.append(buf, buf.length));
  });
  return { log, offsets };
}

function flipByte(log: LogFile, at: number): void {
  const b = Buffer.alloc(1);
  nodeFileSystem.read(log.fd, b, 0, 1, at);
  b[0] = b[0]! ^ 0x40;
  nodeFileSystem.write(log.fd, b, 0, 1, at);
}

/** Steps `scrub` to its end with `budget` bytes a step; returns the step count. */
function runOut(scrub: LogScrub, budget: number): number {
  let steps = 1;
  while (scrub.step(budget)) steps++;
  return steps;
}

describe('write-log scrub', () => {
  it('checks every byte of a sound log, a budget at a time, across window edges and entries larger than the window', () => {
    const sizes = [...Array(300)].map((_, i) => (i * 7919) % 9000).concat([3 * 1024 * 1024, 10, 2 * 1024 * 1024 + 5]);
    const { log } = logWith(sizes);
    const scrub = new LogScrub(log, log.end);
    const steps = runOut(scrub, 64 * 1024);
    expect(scrub.status.state).to.equal('done');
    expect(scrub.status.checkedBytes).to.equal(log.end - FILE_HEADER_BYTES);
    expect(steps).to.be.greaterThan(10);
    log.close();
  });

  it('reports the first damaged entry with its file and offset, wherever the damage is', () => {
    const sizes = [...Array(40)].map((_, i) => 100 + i * 50_000);
    for (const victim of [0, 7, 20, 39]) {
      for (const where of ['header', 'key', 'value'] as const) {
        const { log, offsets } = logWith(sizes);
        const at = offsets[victim]! + (where === 'header' ? 9 : where === 'key' ? 20 : 20 + 3 + 50);
        flipByte(log, at);
        const scrub = new LogScrub(log, log.end);
        runOut(scrub, 256 * 1024);
        expect(scrub.status.state, `${victim}/${where}`).to.equal('corrupt');
        expect(scrub.status.corruption!.offset, `${victim}/${where}`).to.equal(offsets[victim]);
        expect(scrub.status.corruption!.file).to.equal(join(log.path));
        expect(scrub.error!.name).to.equal('CorruptionError');
        log.close();
      }
    }
  });

  it('a log cut short since open, or an entry running past the checked end, is corrupt', () => {
    const { log, offsets } = logWith([10, 20, 30]);
    const scrub = new LogScrub(log, offsets[2]! + 5);
    runOut(scrub, 1 << 20);
    expect(scrub.status.state).to.equal('corrupt');
    expect(scrub.status.corruption!.offset).to.equal(offsets[2]);
    const cut = new LogScrub(log, log.end);
    nodeFileSystem.truncate(log.fd, offsets[1]! + 3);
    runOut(cut, 1 << 20);
    expect(cut.status.state).to.equal('corrupt');
    log.close();
  });

  it('an empty log is done at once', () => {
    const { log } = logWith([]);
    const scrub = new LogScrub(log, log.end);
    expect(scrub.step(1024)).to.equal(false);
    expect(scrub.status.state).to.equal('done');
    log.close();
  });
});

describe('write-log scrub in a store opened from the hint', () => {
  /** A closed store in a fresh dir (a clean close leaves the hint), and the offset of one early, live entry's value. */
  async function closedStore(): Promise<{ dir: string; valueAt: number }> {
    const dir = tmpDir('scrub-store');
    const s = await openStore({ dir });
    for (let i = 0; i < 400; i++) await s.put(`k${i}`, Buffer.alloc(2000, i & 0xff));
    await s.close();
    return { dir, valueAt: FILE_HEADER_BYTES + ENTRY_HEADER_BYTES + 2 + 100 };
  }

  it('checks the whole log in the background and reports health ok', async () => {
    const { dir } = await closedStore();
    const s = await openStore({ dir });
    expect(s.metrics().openedFromHint).to.equal(true);
    await waitFor(() => s.metrics().scrub.state === 'done', 'the scrub to finish');
    expect(s.metrics().scrub.checkedBytes).to.equal(s.metrics().writeLogBytes - FILE_HEADER_BYTES);
    expect(s.health()).to.deep.include({ ok: true, problems: [] });
    await s.close();
  });

  it('finds bit rot at rest without a read of the damaged entry, reports it in health(), and keeps serving', async () => {
    const { dir, valueAt } = await closedStore();
    const wl = join(dir, 'write.log');
    const buf = readFileSync(wl);
    buf[valueAt]! ^= 0x10;
    writeFileSync(wl, buf);
    const s = await openStore({ dir });
    expect(s.metrics().openedFromHint).to.equal(true);
    await waitFor(() => s.metrics().scrub.state !== 'running', 'the scrub to stop');
    const h = s.health();
    expect(h.ok).to.equal(false);
    expect(h.problems.map((p) => p.kind)).to.deep.equal(['corruption']);
    expect(h.scrub.corruption).to.deep.include({ file: wl, offset: FILE_HEADER_BYTES });
    expect(h.problems[0]!.message).to.contain(wl);
    // Other keys still read and write; the damaged one is not served silently.
    expect((await s.get('k7'))?.[0]).to.equal(7);
    await s.put('after', Buffer.from('x'));
    await s.close();
  });

  it('an open that scanned the logs has no scrub to run', async () => {
    const { dir } = await closedStore();
    unlinkSync(join(dir, 'index.hint'));
    const s = await openStore({ dir });
    expect(s.metrics().scrub.state).to.equal('idle');
    expect(s.health().ok).to.equal(true);
    await s.close();
  });
});
