import { expect } from 'chai';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, InvalidKeyError, InvalidValueError, openStore, type Store } from '../src/index.js';
import { nodeFileSystem } from '../src/engine/fs.js';
import { ENTRY_HEADER_BYTES, FILE_HEADER_BYTES } from '../src/engine/record.js';
import { bytes, openEngine, runOps, text, tickFor, tmpDir, BACKENDS } from './helpers.js';

for (const backend of BACKENDS) describe(`[${backend} backend]`, () => {
  describe('atomic batches', () => {
    let dir: string;
    let store: Store;
    beforeEach(async () => { dir = tmpDir(); store = await openStore({ backend, dir }); });
    afterEach(() => store.close());

    it('applies puts and deletes together, through the ticker and the promise form, and tells watchers', async () => {
      await store.put('a', bytes('old-a'));
      await store.get('a'); // cached: the batch must invalidate it
      const watcher = store.ticker();
      const changes: string[] = [];
      watcher.watch({ prefix: '' }, (c) => changes.push(`${c.op}:${c.key}`));
      await store.batch([{ type: 'put', key: 'a', value: bytes('new-a') }, { type: 'put', key: 'b', value: bytes('b') }, { type: 'delete', key: 'c' }]);
      expect(text(await store.get('a'))).to.equal('new-a');
      expect(text(await store.get('b'))).to.equal('b');
      const t = store.ticker();
      t.batch([{ type: 'delete', key: 'a' }, { type: 'put', key: 'c', value: bytes('c') }]);
      const [r] = await tickFor(t, 1);
      expect(r).to.include({ op: 'batch', ok: true });
      expect(await store.get('a')).to.equal(undefined);
      expect(text(await store.get('c'))).to.equal('c');
      watcher.tick();
      expect(changes).to.deep.equal(['put:a', 'put:b', 'delete:c', 'delete:a', 'put:c']);
    });

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

    it('bad batches are typed errors at the call site, and write nothing', async () => {
      const t = store.ticker();
      const before = store.metrics();
      const bad: [unknown, new (...a: never[]) => Error][] = [
        [[], InvalidArgumentError], ['x', InvalidArgumentError], [[{ type: 'upsert', key: 'k' }], InvalidArgumentError],
        [[{ type: 'put', key: 'ok', value: bytes('1') }, { type: 'put', key: '', value: bytes('1') }], InvalidKeyError],
        [[{ type: 'put', key: 'ok', value: 'text' }], InvalidValueError], [new Array(10_001).fill({ type: 'delete', key: 'k' }), InvalidArgumentError],
      ];
      for (const [ops, cls] of bad) {
        expect(() => t.batch(ops as never), JSON.stringify(ops).slice(0, 60)).to.throw(cls);
        let caught: unknown;
        try { await store.batch(ops as never); } catch (e) { caught = e; }
        expect(caught).to.be.instanceOf(cls);
      }
      await store.exists('probe'); // a round trip, so the engine's figures are current
    expect(store.metrics().writeLogBytes, 'nothing written').to.equal(before.writeLogBytes);
    expect(store.metrics().fsyncs).to.equal(before.fsyncs);
      expect(await store.exists('ok')).to.equal(false);
    });
  });
});
