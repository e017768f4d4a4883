import { expect } from 'chai';
import { Memcache } from '../src/memcache.js';
import { openStore } from '../src/index.js';
import { bytes, tmpDir } from './helpers.js';

const v = (n: number): Uint8Array => new Uint8Array(n).fill(1);

describe('memcache', () => {
  it('is bounded by entries, evicting the least recently used', () => {
    const c = new Memcache({ maxEntries: 3, maxBytes: 1 << 20 });
    for (const k of ['a', 'b', 'c']) c.set(k, v(1));
    c.get('a'); // a is now the most recent
    c.set('d', v(1));
    expect(c.size).to.equal(3);
    expect(c.has('b'), 'least recent evicted').to.equal(false);
    expect(c.has('a')).to.equal(true);
  });

  it('never shares memory with a caller: Buffers written or read and then mutated leave the cache intact', async () => {
    const store = await openStore({ dir: tmpDir(), backend: 'memory', writePolicy: 'update' });
    await store.put('k', Buffer.from('one'));
    const read = (await store.get('k'))!;         // fills the cache
    read.fill(0x58);                               // the caller's copy only
    const mine = Buffer.from('two');
    await store.put('k', mine);                    // update policy: cached in place
    mine.write('YYY');
    const t = store.ticker();
    t.get('k');
    const got = await new Promise<Uint8Array | undefined>((res) => { const iv = setInterval(() => { t.tick(); const r = t.poll(); if (r) { clearInterval(iv); res(r.value); } }, 1); });
    expect(store.metrics().cacheHits, 'served by the memcache').to.be.greaterThan(0);
    expect(Buffer.from(got!).toString()).to.equal('two');
    got!.fill(0x5a);
    expect(Buffer.from((await store.get('k'))!).toString()).to.equal('two');
    await store.close();
  });

  it('is bounded by bytes; an entry larger than the bound is not kept', () => {
    const c = new Memcache({ maxEntries: 100, maxBytes: 1000 });
    for (let i = 0; i < 10; i++) c.set(`k${i}`, v(300));
    expect(c.bytes).to.be.at.most(1000);
    expect(c.size).to.equal(3);
    c.set('huge', v(5000));
    expect(c.has('huge')).to.equal(false);
    expect(c.bytes).to.be.at.most(1000);
  });

  it('tags derived entries with the keys they depend on: a write to any of them drops the entry', () => {
    const c = new Memcache({ maxEntries: 100, maxBytes: 1 << 20 });
    c.set('a', v(1));
    c.set('b', v(1));
    c.set('a+b', v(2), ['a', 'b']);
    c.set('b+c', v(2), ['b', 'c']);
    c.invalidateDerived('a');
    expect(c.has('a+b')).to.equal(false);
    expect(c.has('a'), 'derived-only invalidation keeps the key itself').to.equal(true);
    expect(c.has('b+c')).to.equal(true);
    c.invalidate('c');
    expect(c.has('b+c')).to.equal(false);
    expect(c.has('b')).to.equal(true);
    // update() overwrites single-key entries only, and only when present.
    c.update('b', v(9));
    expect(c.get('b')!.length).to.equal(9);
    c.update('absent', v(1));
    expect(c.has('absent')).to.equal(false);
    c.set('x+y', v(1), ['x', 'y']);
    c.update('x+y', v(5));
    expect(c.get('x+y')!.length, 'a derived entry is never overwritten by a key write').to.equal(1);
  });

  it('an evicted derived entry leaves no dangling tags behind', () => {
    const c = new Memcache({ maxEntries: 2, maxBytes: 1 << 20 });
    c.set('d1', v(1), ['p', 'q']);
    c.set('x', v(1));
    c.set('y', v(1)); // evicts d1
    c.set('d1', v(1)); // same name, now a plain entry
    c.invalidateDerived('p');
    expect(c.has('d1'), 'the old tag no longer points at the new entry').to.equal(true);
  });

  it('resize keeps the most recent entries that fit', () => {
    const c = new Memcache({ maxEntries: 10, maxBytes: 1 << 20 });
    for (let i = 0; i < 10; i++) c.set(`k${i}`, v(10));
    c.resize({ maxEntries: 4, maxBytes: 1 << 20 });
    expect(c.size).to.equal(4);
    for (let i = 6; i < 10; i++) expect(c.has(`k${i}`)).to.equal(true);
  });

  it('store.configure resizes the memcache in place', async () => {
    const store = await openStore({ dir: tmpDir(), memcacheCapacity: 100 });
    try {
      for (let i = 0; i < 20; i++) await store.put(`k${i}`, bytes('x'));
      for (let i = 0; i < 20; i++) await store.get(`k${i}`);
      expect(store.metrics().memcacheSize).to.equal(20);
      await store.configure({ memcacheCapacity: 5 });
      expect(store.metrics().memcacheSize).to.equal(5);
      await store.configure({ memcacheMaxBytes: 2 });
      expect(store.metrics().memcacheBytes).to.be.at.most(2);
    } finally { await store.close(); }
  });
});
