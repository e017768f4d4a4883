import { expect } from 'chai';
import { appendFileSync, copyFileSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptionError, openStore } from '../src/index.js';
import { ENTRY_HEADER_BYTES, FILE_HEADER_BYTES } from '../src/engines/disk/thread/record.js';
import { bytes, text, tmpDir } from './helpers.js';

/** A deterministic workload: puts, overwrites, deletes, empty values. Returns the expected state. */
async function workload(dir: string, n: number, seed = 1, model = new Map<string, string>()): Promise<Map<string, string>> {
  const s = await openStore({ dir });
  let x = seed;
  const rnd = (m: number): number => { x = (x * 1103515245 + 12345) % 2 ** 31; return x % m; };
  for (let i = 0; i < n; i++) {
    const key = `key-${rnd(n / 3 | 0)}`;
    if (rnd(5) === 0) {
      expect(await s.delete(key)).to.equal(model.has(key));
      model.delete(key);
    } else {
      const v = rnd(10) === 0 ? '' : `value-${i}-${'x'.repeat(rnd(200))}`;
      await s.put(key, bytes(v));
      model.set(key, v);
    }
  }
  await s.close();
  return model;
}

async function expectState(dir: string, model: Map<string, string>, n: number): Promise<void> {
  const s = await openStore({ dir });
  try {
    for (let i = 0; i < n / 3; i++) {
      const key = `key-${i}`;
      expect(text(await s.get(key, { cacheOnRead: false })), key).to.equal(model.get(key));
    }
    expect(s.metrics().writeCount).to.equal(model.size);
    expect(s.metrics().readCount).to.equal(model.size);
  } finally { await s.close(); }
}

describe('recovery', () => {
  it('close and reopen returns exactly the acknowledged data', async () => {
    const dir = tmpDir();
    const model = await workload(dir, 600);
    await expectState(dir, model, 600);
    await expectState(dir, model, 600); // and again: reopening changes nothing
  });

  it('a stale replica (crash between the logs) is reconciled on open', async () => {
    const dir = tmpDir();
    const first = await workload(dir, 300, 7);
    copyFileSync(join(dir, 'read.log'), join(dir, 'old-read.log'));
    const model = await workload(dir, 300, 8, first); // more writes: overwrites, deletes
    // Simulate a crash that lost the replica's recent appends.
    copyFileSync(join(dir, 'old-read.log'), join(dir, 'read.log'));
    unlinkSync(join(dir, 'old-read.log'));
    const s = await openStore({ dir });
    expect(s.metrics().replicaRepaired).to.be.greaterThan(0);
    await s.close();
    await expectState(dir, model, 300);
  });

  it('a missing, torn or garbage replica is rebuilt from the write store', async () => {
    const dir = tmpDir();
    const model = await workload(dir, 300, 3);
    unlinkSync(join(dir, 'read.log'));
    await expectState(dir, model, 300);
    truncateSync(join(dir, 'read.log'), statSync(join(dir, 'read.log')).size - 7);
    await expectState(dir, model, 300);
    const buf = readFileSync(join(dir, 'read.log'));
    buf.fill(0x5a, FILE_HEADER_BYTES + 10, FILE_HEADER_BYTES + 200);
    writeFileSync(join(dir, 'read.log'), buf);
    const s = await openStore({ dir });
    expect(s.metrics().replicaRebuilt).to.equal(true);
    await s.close();
    await expectState(dir, model, 300);
  });

  it('a torn tail (a partial last commit) is truncated, and everything before it kept', async () => {
    const dir = tmpDir();
    const model = await workload(dir, 90, 5);
    const wl = join(dir, 'write.log');
    const size = statSync(wl).size;
    // A crash leaves no hint (a clean close does, and a log then damaged is refused: hint.test.ts).
    unlinkSync(join(dir, 'index.hint'));
    // A commit cut short: a plausible header and half its payload.
    const whole = readFileSync(wl).subarray(FILE_HEADER_BYTES, FILE_HEADER_BYTES + 60);
    appendFileSync(wl, whole.subarray(0, 37));
    const s = await openStore({ dir });
    expect(s.metrics().truncatedBytes).to.equal(37);
    await s.close();
    expect(statSync(wl).size).to.equal(size);
    await expectState(dir, model, 90);
    // Zeros (a file extended but never written) are a torn tail too.
    unlinkSync(join(dir, 'index.hint'));
    appendFileSync(wl, Buffer.alloc(4096));
    await expectState(dir, model, 90);
    expect(statSync(wl).size).to.equal(size);
  });

  it('a flipped byte mid-log is a CorruptionError naming the file and the entry offset: at open when the log is scanned, at the read with a hint', async () => {
    const dir = tmpDir();
    await workload(dir, 600, 9);
    const wl = join(dir, 'write.log');
    const buf = readFileSync(wl);
    // Flip a byte inside the value of a live entry early in the log (not in the last 4 KiB a hint's fingerprint covers).
    const last = new Map<string, { off: number; live: boolean }>();
    for (let off = FILE_HEADER_BYTES; off < buf.length;) {
      const kl = buf.readUInt16LE(off + 6);
      const vl = buf.readUInt32LE(off + 8);
      last.set(buf.toString('utf8', off + ENTRY_HEADER_BYTES, off + ENTRY_HEADER_BYTES + kl), { off, live: buf[off + 4] === 1 && vl > 2 });
      off += ENTRY_HEADER_BYTES + kl + vl;
    }
    const [key, { off }] = [...last].find(([, e]) => e.live && e.off < buf.length - 8192)!;
    buf[off + ENTRY_HEADER_BYTES + Buffer.byteLength(key) + 1]! ^= 0x01;
    writeFileSync(wl, buf);
    const expectNamed = (caught: unknown): void => {
      expect(caught).to.be.instanceOf(CorruptionError);
      const ce = caught as CorruptionError;
      expect(ce.file).to.equal(wl);
      expect(ce.offset).to.equal(off);
      expect(ce.message).to.contain(wl).and.contain(String(off));
    };

    // The clean close left a hint: open trusts the index and verifies each write-log entry
    // when it is read (GETs read the replica; a transaction reads the write log).
    const s = await openStore({ dir });
    expect(s.metrics().openedFromHint).to.equal(true);
    let caught: unknown;
    try { await s.transaction(async (tx) => { await tx.get(key); }); } catch (e) { caught = e; }
    expectNamed(caught);
    await s.close();

    // Without a hint (as after a crash) the scan finds it at open.
    unlinkSync(join(dir, 'index.hint'));
    caught = undefined;
    try { await openStore({ dir }); } catch (e) { caught = e; }
    expectNamed(caught);
    // The failed open released the directory and changed nothing on disk.
    expect(readFileSync(wl).equals(buf)).to.equal(true);
  });

  it('a damaged file header is a CorruptionError at offset 0', async () => {
    const dir = tmpDir();
    await workload(dir, 10, 2);
    unlinkSync(join(dir, 'index.hint')); // as after a crash
    const wl = join(dir, 'write.log');
    const buf = readFileSync(wl);
    buf[3]! ^= 0xff;
    writeFileSync(wl, buf);
    let caught: unknown;
    try { await openStore({ dir }); } catch (e) { caught = e; }
    expect(caught).to.be.instanceOf(CorruptionError);
    expect((caught as CorruptionError).offset).to.equal(0);
  });
});
