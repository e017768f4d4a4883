import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CorruptionError, StoreLockedError, openStore } from '../src/index.js';
import { dropMemoryDir } from '../src/engine/memFs.js';
import { bytes, text, tmpDir } from './helpers.js';

/** What `p` settles to: its value, or the error it rejected with. */
async function settle<T>(p: Promise<T>): Promise<T | unknown> {
  try { return await p; } catch (err) { return err; }
}

describe('hardening: store lifecycle', () => {
  describe('a refused open reports its real cause (defect 4)', () => {
    it('150 opens of a damaged log: 150 CorruptionErrors', async () => {
      const dir = tmpDir();
      const s = await openStore({ dir });
      await s.put('k', bytes('v'));
      await s.close();
      const wl = join(dir, 'write.log');
      const buf = readFileSync(wl);
      buf[3]! ^= 0xff; // the file header: refused at every open
      writeFileSync(wl, buf);
      const kinds = new Map<string, number>();
      for (let i = 0; i < 150; i++) {
        const e = await settle(openStore({ dir }));
        const kind = e instanceof CorruptionError ? 'CorruptionError' : `${(e as Error).constructor.name}: ${(e as Error).message}`;
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
      expect(Object.fromEntries(kinds)).to.deep.equal({ CorruptionError: 150 });
    });

    it('150 opens of a locked directory: 150 StoreLockedErrors naming this process', async () => {
      const dir = tmpDir();
      const holder = await openStore({ dir });
      try {
        const kinds = new Map<string, number>();
        for (let i = 0; i < 150; i++) {
          const e = await settle(openStore({ dir }));
          const kind = e instanceof StoreLockedError && e.holderPid === process.pid ? 'StoreLockedError' : `${(e as Error).constructor.name}: ${(e as Error).message}`;
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        }
        expect(Object.fromEntries(kinds)).to.deep.equal({ StoreLockedError: 150 });
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
});
