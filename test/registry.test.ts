import { expect } from 'chai';
import { InvalidArgumentError, createRegistry } from '../src/index.js';
import { bytes, text, tmpDir } from './helpers.js';

describe('store registry', () => {
  it('hands out one shared store per (id, backend), reference-counted, closed with the last release', async () => {
    const reg = createRegistry(tmpDir('registry'));
    const [a, b] = await Promise.all([reg.open('world'), reg.open('world')]);
    expect(a.store, 'concurrent opens share one instance').to.equal(b.store);
    await a.store.put('k', bytes('v'));
    const mem = await reg.open('world', { backend: 'memory' });
    expect(mem.store, 'memory and disk are separate').to.not.equal(a.store);
    expect(await mem.store.get('k')).to.equal(undefined);
    await a.release();
    await a.release(); // idempotent
    expect(b.store.isClosed).to.equal(false);
    expect(text(await b.store.get('k'))).to.equal('v');
    await b.release();
    expect(b.store.isClosed, 'closed with the last reference').to.equal(true);
    const again = await reg.open('world');
    expect(again.store).to.not.equal(b.store);
    expect(text(await again.store.get('k')), 'a reopen sees the data').to.equal('v');
    await again.release();
    await mem.release();
    expect(reg.openIds).to.deep.equal([]);
  });

  it('rejects ids that could escape the base directory', async () => {
    const reg = createRegistry(tmpDir('registry'));
    for (const id of ['..', '.', '../x', 'a/b', 'a\\b', '/abs', 'a\0b', '', '.hidden', 'x..y', 'a'.repeat(129), 5, null]) {
      let caught: unknown;
      try { await reg.open(id as string); } catch (e) { caught = e; }
      expect(caught, JSON.stringify(id)).to.be.instanceOf(InvalidArgumentError);
    }
    expect(reg.openIds).to.deep.equal([]);
  });
});
