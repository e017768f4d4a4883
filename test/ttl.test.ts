import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../src/index.js';
import { BACKENDS, bytes, sleep, tmpDir } from './helpers.js';

// The TTL rules (absent after the deadline everywhere, cleared by a plain put, surviving a reopen, bad options)
// are in src/testkit/conformance.ts; here what compaction does with expired entries.
for (const backend of BACKENDS) {
  describe(`[${backend} backend] per-key TTL`, () => {
    it('compaction removes expired entries (and never brings back what they replaced)', async () => {
      const dir = tmpDir();
      const store = await openStore({ dir, backend });
      for (let i = 0; i < 50; i++) await store.put(`old-${i}`, bytes('previous'));
      for (let i = 0; i < 50; i++) await store.put(`old-${i}`, bytes('expiring'), { ttlMs: 40 });
      for (let i = 0; i < 10; i++) await store.put(`keep-${i}`, bytes('kept'));
      await sleep(60);
      expect(store.metrics().writeCount, 'expired keys are still indexed before compaction').to.equal(60);
      await store.compact();
      const m = store.metrics();
      expect(m.writeCount, 'expired keys are gone from the write store').to.equal(10);
      expect(m.writeLogDeadBytes).to.equal(0);
      for (let i = 0; i < 50; i += 7) expect(await store.get(`old-${i}`), `old-${i}`).to.equal(undefined);
      if (backend === 'disk') {
        expect(readFileSync(join(dir, 'write.log')).includes('old-1'), 'no trace of them in the log').to.equal(false);
        await store.close();
        const again = await openStore({ dir });
        expect(await again.get('old-3'), 'nothing older resurfaces after reopen').to.equal(undefined);
        expect(again.metrics().writeCount).to.equal(10);
        await again.close();
      } else {
        await store.close();
      }
    });
  });
}
