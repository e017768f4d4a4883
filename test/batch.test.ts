import { expect } from 'chai';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, InvalidKeyError, InvalidValueError, openStore } from '../src/index.js';
import { nodeFileSystem } from '../src/engines/disk/thread/fs.js';
import { ENTRY_HEADER_BYTES, FILE_HEADER_BYTES } from '../src/engines/disk/thread/record.js';
import { bytes, openEngine, runOps, text, tmpDir, BACKENDS } from './helpers.js';

// The batch rules (atomic, all-or-nothing visibility, watchers, typed errors) are in src/testkit/conformance.ts;
// here the disk engine's side: the commit unit in the log, and what a refused batch costs it.
describe('[disk engine] atomic batches', () => {
  it('is one commit unit on disk: a batch cut anywhere inside is applied whole or not at all', () => {
    const d = tmpDir();
    const engine = openEngine(nodeFileSystem, d);
    runOps(engine, [['put', 'x', bytes('0')]]);
    runOps(engine, [['batch', [{ type: 'put', key: 'x', value: bytes('1') }, { type: 'put', key: 'y', value: bytes('1') }, { type: 'delete', key: 'z' }]]]);
    engine.close();
    const log = readFileSync(join(d, 'write.log'));
    // Cut the file at every byte inside the batch (three entries, LAST only on the third): never part of it.
    const firstEnd = FILE_HEADER_BYTES + ENTRY_HEADER_BYTES + 2; // header + put x=0
    expect(log.length).to.be.greaterThan(firstEnd + 3 * ENTRY_HEADER_BYTES);
    for (let len = log.length - 1; len >= firstEnd; len--) {
      const cut = tmpDir();
      const e0 = openEngine(nodeFileSystem, cut);
      e0.close();
      writeFileSync(join(cut, 'write.log'), log.subarray(0, len));
      rmSync(join(cut, 'read.log'));
      rmSync(join(cut, 'index.hint')); // a cut log is a crash's: no hint
      const e = openEngine(nodeFileSystem, cut);
      const [x, y] = runOps(e, [['get', 'x'], ['get', 'y']]);
      expect([text(x!.value), y!.found], `cut at ${len}`).to.deep.equal(['0', false]);
      e.close();
    }
  });
});

for (const backend of BACKENDS) describe(`[${backend} backend] atomic batches`, () => {
  it('bad batches write no log bytes and cost no fsync', async () => {
    const store = await openStore({ backend, dir: tmpDir() });
    try {
      const before = store.metrics();
      const bad: unknown[] = [
        [], 'x', [{ type: 'upsert', key: 'k' }],
        [{ type: 'put', key: 'ok', value: bytes('1') }, { type: 'put', key: '', value: bytes('1') }],
        [{ type: 'put', key: 'ok', value: 'text' }], new Array(10_001).fill({ type: 'delete', key: 'k' }),
      ];
      const t = store.ticker();
      for (const ops of bad) {
        expect(() => t.batch(ops as never)).to.throw();
        let caught: unknown;
        try { await store.batch(ops as never); } catch (e) { caught = e; }
        expect(caught).to.satisfy((e: unknown) => e instanceof InvalidArgumentError || e instanceof InvalidKeyError || e instanceof InvalidValueError);
      }
      await store.exists('probe'); // a round trip, so the engine's figures are current
      expect(store.metrics().writeLogBytes, 'nothing written').to.equal(before.writeLogBytes);
      expect(store.metrics().fsyncs).to.equal(before.fsyncs);
      expect(store.metrics().writeCount).to.equal(0);
    } finally { await store.close(); }
  });
});
