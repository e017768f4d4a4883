import { expect } from 'chai';
import { openStore } from '../src/index.js';
import { BACKENDS, bytes, sleep, tmpDir, waitFor } from './helpers.js';

// The expire change a watcher hears is in src/testkit/conformance.ts; here the engine's sweep figures.
for (const backend of BACKENDS) {
  describe(`[${backend} backend] expiry sweep`, () => {
    it('expired keys leave the key counts and the live bytes', async () => {
      const store = await openStore({ dir: tmpDir(), backend });
      for (let i = 0; i < 50; i++) await store.put(`buff:${i}`, bytes('x'.repeat(100)), { ttlMs: 100 });
      for (let i = 0; i < 10; i++) await store.put(`keep:${i}`, bytes('y'));
      await store.put('buff:renewed', bytes('short'), { ttlMs: 100 });
      await store.put('buff:renewed', bytes('forever'));
      const before = store.metrics();
      expect(before.writeCount).to.equal(61);
      await waitFor(() => store.metrics().expiredKeys === 50, 'the sweep', 5000);
      await sleep(20);
      const after = store.metrics();
      expect(after.writeCount, 'write store count').to.equal(11);
      expect(after.readCount, 'replica count').to.equal(11);
      expect(after.writeLogDeadBytes, 'expired entries are dead bytes').to.be.greaterThan(before.writeLogDeadBytes + 50 * 100);
      expect(await store.get('buff:renewed'), 'a key rewritten without a deadline is not swept').to.deep.equal(bytes('forever'));
      await store.close();
    });

    if (backend === 'disk') {
      it('keys that expired while the store was closed are swept after the next open', async () => {
        const dir = tmpDir();
        let store = await openStore({ dir });
        for (let i = 0; i < 20; i++) await store.put(`s:${i}`, bytes('v'), { ttlMs: 150 });
        await store.put('plain', bytes('v'));
        await store.close();
        await sleep(200);
        store = await openStore({ dir });
        await waitFor(() => store.metrics().writeCount === 1, 'the sweep after open', 5000);
        expect(store.metrics().expiredKeys).to.equal(20);
        expect(store.metrics().readCount).to.equal(1);
        await store.close();
      });
    }
  });
}
