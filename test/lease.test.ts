import { expect } from 'chai';
import { InvalidArgumentError, InvalidKeyError, LeaseHeldError, LeaseLostError, openStore, type Store } from '../src/index.js';
import { bytes, sleep, text, tmpDir } from './helpers.js';

async function failure(p: () => Promise<unknown>): Promise<unknown> {
  try { await p(); } catch (err) { return err; }
  throw new Error('expected a rejection');
}

for (const kind of ['disk', 'memory'] as const) {
  describe(`[${kind} backend] leases with fencing tokens (in-process)`, () => {
    let store: Store;
    beforeEach(async () => {
      store = kind === 'disk' ? await openStore({ dir: tmpDir() }) : await openStore({ dir: `lease-${Math.random()}`, backend: 'memory' });
    });
    afterEach(() => store.close());

    it('one holder at a time; tokens only grow, across release and lapse', async () => {
      const a = await store.lease('p1', { ttlMs: 200 });
      expect(a.scope).to.equal('p1');
      expect(a.expiresAt).to.be.greaterThan(Date.now());
      const held = await failure(() => store.lease('p1', { ttlMs: 200 }));
      expect(held).to.be.instanceOf(LeaseHeldError);
      expect((held as LeaseHeldError).scope).to.equal('p1');
      // Another scope is independent.
      const other = await store.lease('p2', { ttlMs: 200 });
      expect(other.token).to.not.equal(a.token);
      expect(await a.release()).to.equal(true);
      expect(await a.release(), 'a second release finds nothing').to.equal(false);
      const b = await store.lease('p1', { ttlMs: 50 });
      expect(b.token).to.be.greaterThan(a.token);
      await sleep(80);
      const c = await store.lease('p1', { ttlMs: 200 });
      expect(c.token, 'after a lapse the next token is larger still').to.be.greaterThan(b.token);
    });

    it('a fenced write applies only while its lease is current; a stale holder writes nothing', async () => {
      const a = await store.lease('player:1', { ttlMs: 60 });
      await store.put('k', bytes('from-a'), { fence: a });
      await store.delete('gone', { fence: a });
      await store.batch([{ type: 'put', key: 'b1', value: bytes('x') }], { fence: a });
      expect(await store.putIfAbsent('c', bytes('y'), { fence: a })).to.equal(true);
      await sleep(90); // a "paused" past its ttl
      for (const write of [
        () => store.put('k', bytes('stale'), { fence: a }),
        () => store.delete('k', { fence: a }),
        () => store.batch([{ type: 'put', key: 'k', value: bytes('stale') }], { fence: a }),
        () => store.putIfAbsent('new', bytes('stale'), { fence: a }),
      ]) {
        const e = await failure(write);
        expect(e, String(e)).to.be.instanceOf(LeaseLostError);
        expect((e as LeaseLostError).scope).to.equal('player:1');
      }
      expect(text(await store.get('k'))).to.equal('from-a');
      expect(await store.exists('new')).to.equal(false);
      const b = await store.lease('player:1', { ttlMs: 1000 });
      await store.put('k', bytes('from-b'), { fence: b });
      expect(await failure(() => store.put('k', bytes('stale'), { fence: a }))).to.be.instanceOf(LeaseLostError);
      expect(await failure(() => a.renew())).to.be.instanceOf(LeaseLostError);
      expect(text(await store.get('k'))).to.equal('from-b');
      // The ticker form reports the refusal as a failed result, in order with the other results.
      const t = store.ticker();
      const h1 = t.put('t1', bytes('1'), { fence: b });
      const h2 = t.put('t2', bytes('2'), { fence: a });
      const h3 = t.get('t1');
      const got: { handle: number; ok: boolean; error?: unknown }[] = [];
      while (got.length < 3) {
        await sleep(2);
        t.tick();
        for (let r = t.poll(); r; r = t.poll()) got.push(r);
      }
      expect(got.map((r) => r.handle)).to.deep.equal([h1, h2, h3]);
      expect(got.map((r) => r.ok)).to.deep.equal([true, false, true]);
      expect(got[1]!.error).to.be.instanceOf(LeaseLostError);
    });

    it('renew extends the lease; release frees the scope at once', async () => {
      const a = await store.lease('s', { ttlMs: 60 });
      const before = a.expiresAt;
      await sleep(30);
      await a.renew(200);
      expect(a.expiresAt).to.be.greaterThan(before);
      await sleep(60);
      await store.put('x', bytes('1'), { fence: a }); // still current thanks to the renew
      await a.release();
      expect(await failure(() => store.put('x', bytes('2'), { fence: a }))).to.be.instanceOf(LeaseLostError);
      expect(text(await store.get('x'))).to.equal('1');
    });

    it('bad lease arguments are typed errors at the call', async () => {
      expect(await failure(() => store.lease('', { ttlMs: 10 }))).to.be.instanceOf(InvalidArgumentError);
      expect(await failure(() => store.lease('\ud800', { ttlMs: 10 }))).to.be.instanceOf(InvalidKeyError);
      for (const ttlMs of [0, -1, 1.5, NaN, 86_400_001, '10']) {
        expect(await failure(() => store.lease('s', { ttlMs } as never)), String(ttlMs)).to.be.instanceOf(InvalidArgumentError);
      }
      expect(await failure(() => store.lease('s', { ttl: 10 } as never))).to.be.instanceOf(InvalidArgumentError);
      expect(await failure(() => store.put('k', bytes('v'), { fence: { scope: 's', token: 1 } } as never))).to.be.instanceOf(InvalidArgumentError);
      expect(await store.exists('k')).to.equal(false);
      const a = await store.lease('s', { ttlMs: 100 });
      expect(await failure(() => a.renew(0))).to.be.instanceOf(InvalidArgumentError);
    });
  });
}
