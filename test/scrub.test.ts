import { expect } from 'chai';
import { join } from 'node:path';
import { nodeFileSystem } from '../src/engine/fs.js';
import { LogFile } from '../src/engine/logFile.js';
import { EntryType, FILE_HEADER_BYTES, LogKind, entrySize, writeEntry } from '../src/engine/record.js';
import { LogScrub } from '../src/engine/scrub.js';
import { tmpDir } from './helpers.js';

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
