import { expect } from 'chai';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { openStore, StoreIOError } from '../src/index.js';
import { bytes, tickFor, tmpDir } from './helpers.js';

const SYNC_CALLS = [
  'openSync', 'closeSync', 'readSync', 'writeSync', 'fsyncSync', 'fdatasyncSync', 'ftruncateSync', 'fstatSync',
  'statSync', 'renameSync', 'unlinkSync', 'existsSync', 'mkdirSync', 'readdirSync', 'readFileSync', 'writeFileSync',
] as const;

describe('the main thread', () => {
  it('makes no synchronous file-system call after openStore resolves (ops, compaction, configure, close)', async () => {
    const store = await openStore({ dir: tmpDir(), compactMinBytes: 0, compactRatio: 0.2 });
    const saved = new Map<string, unknown>();
    const calls: string[] = [];
    const f = fs as unknown as Record<string, unknown>;
    for (const name of SYNC_CALLS) {
      saved.set(name, f[name]);
      f[name] = (...args: unknown[]) => { calls.push(name); return (saved.get(name) as (...a: unknown[]) => unknown)(...args); };
    }
    syncBuiltinESMExports();
    try {
      const t = store.ticker();
      for (let i = 0; i < 300; i++) { t.put(`k${i % 30}`, bytes(`v${i}`)); t.get(`k${i % 7}`); }
      await tickFor(t, 600);
      await store.configure({ syncMode: 'async-batch' });
      await store.put('x', bytes('1'));
      await store.compact();
      expect(await store.delete('x')).to.equal(true);
      await store.close();
    } finally {
      for (const [name, fn] of saved) f[name] = fn;
      syncBuiltinESMExports();
    }
    expect(calls, 'synchronous fs calls on the main thread').to.deep.equal([]);
  });

  it('is never left hanging if the engine thread dies: waiting ops fail with StoreIOError', async () => {
    const store = await openStore({ dir: tmpDir() });
    await store.put('a', bytes('1'));
    const t = store.ticker();
    t.get('zzz');
    const pending = store.put('b', bytes('2'));
    // Kill the engine thread from outside (as a native crash would).
    await (store as unknown as { backend: { worker: { terminate(): Promise<number> } } }).backend.worker.terminate();
    let caught: unknown;
    try { await pending; } catch (e) { caught = e; }
    expect(caught).to.be.instanceOf(StoreIOError);
    const [r] = await tickFor(t, 1);
    expect(r!.ok).to.equal(false);
    expect(r!.error).to.be.instanceOf(StoreIOError);
    expect(() => t.put('c', bytes('3'))).to.throw(StoreIOError);
    let later: unknown;
    try { await store.get('a'); } catch (e) { later = e; }
    expect(later).to.be.instanceOf(StoreIOError);
    let closing: unknown;
    try { await store.close(); } catch (e) { closing = e; }
    expect(closing, 'close() settles too').to.be.instanceOf(StoreIOError);
  });
});
