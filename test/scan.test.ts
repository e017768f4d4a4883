import { expect } from 'chai';
import { InvalidArgumentError, InvalidKeyError, buildKey, keyPrefix, openStore, type Store } from '../src/index.js';
import { compareKeys } from '../src/engine/scan.js';
import { bytes, text, tickFor, tmpDir, BACKENDS } from './helpers.js';

for (const backend of BACKENDS) describe(`[${backend} backend]`, () => {
  describe('exists and ordered scans', () => {
    let store: Store;
    beforeEach(async () => { store = await openStore({ backend, dir: tmpDir() }); });
    afterEach(() => store.close());

    it('exists tells presence (and the version) without reading the value, through the ticker and the promise form', async () => {
      await store.put('here', bytes('x'));
      await store.put('empty', new Uint8Array(0));
      expect(await store.exists('here')).to.equal(true);
      expect(await store.exists('empty')).to.equal(true);
      expect(await store.exists('nowhere')).to.equal(false);
      await store.get('here'); // now cached
      const t = store.ticker();
      t.exists('here'); t.exists('nowhere'); t.delete('here'); t.exists('here');
      const rs = await tickFor(t, 4);
      expect(rs.map((r) => [r.op, r.found, r.fromCache])).to.deep.equal([
        ['exists', true, false], ['exists', false, false], ['delete', true, false], ['exists', false, false]]);
      expect(rs[0]!.version).to.be.a('number');
      expect(rs[0]!.value).to.equal(undefined);
      expect(() => t.exists('' as string)).to.throw(InvalidKeyError);
    });

    it('a buildKey prefix lists exactly one player\'s records for one function, in param order', async () => {
      const params = [300n, 2n, 10n, 2n ** 40n, 0n];
      for (const p of params) await store.put(buildKey(7, 42, [p]), bytes(`p${p}`));
      await store.put(buildKey(7, 43, [1]), bytes('other player'));
      await store.put(buildKey(8, 42, [1]), bytes('other function'));
      await store.put(buildKey(7, 42), bytes('no params'));
      const { entries, cursor } = await store.scan({ prefix: keyPrefix(7, 42) });
      expect(cursor).to.equal(undefined);
      expect(entries.map((e) => text(e.value))).to.deep.equal(['no params', 'p0', 'p2', 'p10', 'p300', `p${2n ** 40n}`]);
    });

    it('orders by UTF-8 bytes; honours gt/gte/lt/lte, limit and reverse', async () => {
      const keys = ['a', 'b', 'c', 'd', 'é', '\uffff', '😀', 'ab'];
      for (const k of keys) await store.put(k, bytes(k));
      const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect([...keys].sort(compareKeys)).to.deep.equal(byBytes);
      const all = (await store.scan()).entries.map((e) => e.key);
      expect(all).to.deep.equal(byBytes);
      expect((await store.scan({ reverse: true })).entries.map((e) => e.key)).to.deep.equal([...byBytes].reverse());
      expect((await store.scan({ gt: 'a', lte: 'c' })).entries.map((e) => e.key)).to.deep.equal(['ab', 'b', 'c']);
      expect((await store.scan({ gte: 'ab', lt: 'c' })).entries.map((e) => e.key)).to.deep.equal(['ab', 'b']);
      expect((await store.scan({ gte: 'b', limit: 2, reverse: true })).entries.map((e) => e.key)).to.deep.equal(['😀', '\uffff']);
      const first = await store.scan({ limit: 3 });
      expect(first.entries.map((e) => e.key), 'early stop').to.deep.equal(byBytes.slice(0, 3));
      expect(first.cursor).to.be.a('string');
    });

    for (const reverse of [false, true]) {
      it(`pages with an opaque cursor (${reverse ? 'reverse' : 'forward'}) list every key once, in order, while writes continue`, async () => {
        const keys = Array.from({ length: 250 }, (_, i) => `item:${String(i).padStart(4, '0')}`);
        await Promise.all(keys.map((k) => store.put(k, bytes(k))));
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.scan({ prefix: 'item:', limit: 40, reverse, ...(cursor ? { cursor } : {}) });
          seen.push(...page.entries.map((e) => e.key));
          cursor = page.cursor;
          pages++;
          // Writes between pages: overwrites, and keys outside the prefix.
          await store.put(keys[pages * 7]!, bytes('changed'));
          await store.put(`zzz:${pages}`, bytes('x'));
        } while (cursor);
        expect(pages).to.equal(7);
        expect(seen).to.deep.equal(reverse ? [...keys].reverse() : keys);
      });
    }

    it('a page is a consistent snapshot, ordered with the writes of the same tick', async () => {
      const t = store.ticker();
      t.scan({ prefix: 's:' });
      for (let i = 0; i < 50; i++) t.put(`s:${i}`, bytes('v'));
      t.scan({ prefix: 's:', limit: 10_000 });
      const rs = await tickFor(t, 52);
      expect(rs[0]!.entries, 'before the writes').to.deep.equal([]);
      expect(rs[51]!.entries!.length, 'after all of them').to.equal(50);
    });

    it('bad scan options and cursors are typed errors at the call site', async () => {
      const t = store.ticker();
      const bad: [unknown, new (...a: never[]) => Error][] = [
        [{ limit: 0 }, InvalidArgumentError], [{ limit: 10_001 }, InvalidArgumentError], [{ limit: 1.5 }, InvalidArgumentError],
        [{ reverse: 'yes' }, InvalidArgumentError], [{ gt: 5 }, InvalidKeyError], [{ prefix: 7 }, InvalidKeyError],
        [{ cursor: 'not a cursor!' }, InvalidArgumentError], [{ cursor: Buffer.from('{"k":1}').toString('base64url') }, InvalidArgumentError],
        [{ sort: 'asc' }, InvalidArgumentError], ['nope', InvalidArgumentError],
      ];
      for (const [o, cls] of bad) {
        expect(() => t.scan(o as never), JSON.stringify(o)).to.throw(cls);
        let caught: unknown;
        try { await store.scan(o as never); } catch (e) { caught = e; }
        expect(caught, JSON.stringify(o)).to.be.instanceOf(cls);
      }
      await store.put('a', bytes('1'));
      await store.put('b', bytes('2'));
      const page = await store.scan({ limit: 1 });
      expect(() => t.scan({ cursor: page.cursor!, reverse: true }), 'a cursor of the other direction').to.throw(InvalidArgumentError);
    });
  });
});
