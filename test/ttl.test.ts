import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, openStore } from '../src/index.js';
import { BACKENDS, bytes, sleep, tickFor, text, tmpDir } from './helpers.js';

for (const backend of BACKENDS) {
  describe(`[${backend} backend] per-key TTL`, () => {
    it('an expired key reads as absent at once: get, exists, version, scan; putIfAbsent may claim it', async () => {
      const store = await openStore({ dir: tmpDir(), backend });
      await store.put('session:1', bytes('s1'), { ttlMs: 80 });
      await store.put('session:2', bytes('s2'));
      expect(text(await store.get('session:1'))).to.equal('s1');
      expect(text(await store.get('session:1')), 'read twice, still there').to.equal('s1');
      expect(await store.exists('session:1')).to.equal(true);
      await sleep(100);
      expect(await store.get('session:1'), 'never served from the memcache after its deadline').to.equal(undefined);
      expect(await store.exists('session:1')).to.equal(false);
      expect(await store.version('session:1')).to.equal(undefined);
      expect((await store.scan({ prefix: 'session:' })).entries.map((e) => e.key)).to.deep.equal(['session:2']);
      expect(await store.delete('session:1'), 'deleting an expired key finds nothing').to.equal(false);
      expect(await store.putIfAbsent('session:1', bytes('again'), { ttlMs: 60_000 })).to.equal(true);
      expect(text(await store.get('session:1'))).to.equal('again');
      await store.close();
    });

    it('expiresAt in the past is absent at once; a plain put clears a deadline; batches and transactions take TTLs too', async () => {
      const store = await openStore({ dir: tmpDir(), backend });
      await store.put('gone', bytes('x'), { expiresAt: Date.now() - 1 });
      expect(await store.get('gone')).to.equal(undefined);
      await store.put('k', bytes('short'), { ttlMs: 50 });
      await store.put('k', bytes('forever'));
      await store.batch([{ type: 'put', key: 'b1', value: bytes('1'), ttlMs: 50 }, { type: 'put', key: 'b2', value: bytes('2') }]);
      await store.transaction((tx) => { tx.put('t1', bytes('t'), { ttlMs: 50 }); });
      const t = store.ticker();
      t.put('tk', bytes('ticker'), { ttlMs: 50 });
      await tickFor(t, 1);
      await sleep(80);
      const got = await Promise.all(['k', 'b1', 'b2', 't1', 'tk'].map(async (key) => text(await store.get(key))));
      expect(got).to.deep.equal(['forever', undefined, '2', undefined, undefined]);
      await store.close();
    });

    it('bad TTL options are typed errors and write nothing', async () => {
      const store = await openStore({ dir: tmpDir(), backend });
      const bad: unknown[] = [{ ttlMs: 0 }, { ttlMs: -5 }, { ttlMs: Number.NaN }, { ttlMs: '10' }, { expiresAt: 1.5 }, { expiresAt: -1 },
        { ttlMs: 10, expiresAt: Date.now() + 10 }, { ttl: 10 }, null];
      for (const o of bad) {
        expect(() => store.ticker().put('x', bytes('v'), o as never), JSON.stringify(o)).to.throw(InvalidArgumentError);
        if (o === null) continue;
        let caught: unknown;
        try { await store.batch([{ type: 'put', key: 'x', value: bytes('v'), ...(o as object) }]); } catch (e) { caught = e; }
        expect(caught, `batch ${JSON.stringify(o)}`).to.be.instanceOf(InvalidArgumentError);
      }
      expect(await store.exists('x')).to.equal(false);
      await store.close();
    });

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

describe('[disk backend] TTL across reopen', () => {
  it('a deadline survives a restart: present before it, absent after', async () => {
    const dir = tmpDir();
    const store = await openStore({ dir });
    const expiresAt = Date.now() + 700;
    await store.put('session', bytes('live'), { expiresAt });
    await store.put('forever', bytes('yes'));
    await store.close();
    const again = await openStore({ dir });
    expect(Date.now()).to.be.below(expiresAt);
    expect(text(await again.get('session'))).to.equal('live');
    await sleep(expiresAt - Date.now() + 20);
    expect(await again.get('session')).to.equal(undefined);
    await again.close();
    const third = await openStore({ dir });
    expect(await third.get('session'), 'still expired after another restart').to.equal(undefined);
    expect(text(await third.get('forever'))).to.equal('yes');
    await third.close();
  });
});
