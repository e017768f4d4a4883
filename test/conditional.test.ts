import { expect } from 'chai';
import { InvalidArgumentError, InvalidValueError, openStore, type Store } from '../src/index.js';
import { bytes, text, tickFor, tmpDir, BACKENDS } from './helpers.js';

for (const backend of BACKENDS) describe(`[${backend} backend]`, () => {
  describe('conditional writes: putIfAbsent, compareAndSwap, versions', () => {
    let store: Store;
    beforeEach(async () => { store = await openStore({ backend, dir: tmpDir(), writePolicy: 'update' }); });
    afterEach(() => store.close());

    it('putIfAbsent writes once; a mismatch is a normal ok && !applied result', async () => {
      expect(await store.putIfAbsent('acct', bytes('first'))).to.equal(true);
      expect(await store.putIfAbsent('acct', bytes('second'))).to.equal(false);
      expect(text(await store.get('acct'))).to.equal('first');
      const t = store.ticker();
      t.putIf('acct', bytes('third'), { absent: true });
      const [r] = await tickFor(t, 1);
      expect(r).to.include({ op: 'putIf', ok: true, applied: false });
      expect(r!.error).to.equal(undefined);
      await store.delete('acct');
      expect(await store.putIfAbsent('acct', bytes('again'))).to.equal(true);
    });

    it('compareAndSwap compares the exact bytes (undefined: absent), and never leaves a stale cache', async () => {
      expect(await store.compareAndSwap('gold', undefined, bytes('10'))).to.equal(true);
      expect(text(await store.get('gold'))).to.equal('10'); // cached (update policy)
      expect(await store.compareAndSwap('gold', bytes('9'), bytes('11'))).to.equal(false);
      expect(text(await store.get('gold')), 'a failed swap leaves the value, and the cache agrees').to.equal('10');
      expect(await store.compareAndSwap('gold', bytes('10'), bytes('11'))).to.equal(true);
      expect(text(await store.get('gold'))).to.equal('11');
      expect(await store.compareAndSwap('gold', undefined, bytes('0'))).to.equal(false);
      expect(await store.compareAndSwap('gold', bytes('11'), new Uint8Array(0))).to.equal(true);
      expect(await store.compareAndSwap('gold', new Uint8Array(0), bytes('x')), 'an empty value is a value').to.equal(true);
    });

    it('versions: every write gets a new one; ifVersion writes only on a match', async () => {
      expect(await store.version('v')).to.equal(undefined);
      await store.put('v', bytes('a'));
      const v1 = (await store.version('v'))!;
      expect(v1).to.be.a('number');
      const ok = await store.putVersioned('v', bytes('b'), v1);
      expect(ok.applied).to.equal(true);
      expect(ok.version).to.be.greaterThan(v1);
      expect(await store.version('v')).to.equal(ok.version);
      const stale = await store.putVersioned('v', bytes('c'), v1);
      expect(stale).to.deep.equal({ applied: false, version: ok.version });
      expect(text(await store.get('v'))).to.equal('b');
    });

    it('conditions see earlier writes of the same tick, in order', async () => {
      const t = store.ticker();
      t.put('k', bytes('1'));
      t.putIf('k', bytes('2'), { value: bytes('1') });
      t.putIf('k', bytes('3'), { value: bytes('1') });
      t.putIf('fresh', bytes('x'), { absent: true });
      t.putIf('fresh', bytes('y'), { absent: true });
      const rs = await tickFor(t, 5);
      expect(rs.slice(1).map((r) => r.applied)).to.deep.equal([true, false, true, false]);
      expect(text(await store.get('k'))).to.equal('2');
      expect(text(await store.get('fresh'))).to.equal('x');
    });

    it('concurrent compare-and-swap increments never lose an update', async () => {
      await store.put('counter', bytes('0'));
      const bump = async (): Promise<number> => {
        for (let tries = 1; ; tries++) {
          const cur = (await store.get('counter', { cacheOnRead: false }))!;
          if (await store.compareAndSwap('counter', cur, bytes(String(Number(text(cur)) + 1)))) return tries;
        }
      };
      const tries = await Promise.all(Array.from({ length: 40 }, bump));
      expect(text(await store.get('counter'))).to.equal('40');
      expect(tries.some((n) => n > 1), 'some swaps lost a race and retried').to.equal(true);
    });

    it('bad conditions are typed errors', async () => {
      const t = store.ticker();
      for (const c of [undefined, {}, { absent: false }, { version: 0 }, { version: 1.5 }, { version: '3' }]) {
        expect(() => t.putIf('k', bytes('v'), c as never), JSON.stringify(c)).to.throw(InvalidArgumentError);
      }
      expect(() => t.putIf('k', bytes('v'), { value: 'x' } as never)).to.throw(InvalidValueError);
      expect(() => t.putIf('k', 'v' as never, { absent: true })).to.throw(InvalidValueError);
      let caught: unknown;
      try { await store.putVersioned('k', bytes('v'), -1); } catch (e) { caught = e; }
      expect(caught).to.be.instanceOf(InvalidArgumentError);
    });
  });
});
