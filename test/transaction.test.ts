import { expect } from 'chai';
import { TransactionAbortedError, TransactionConflictError, openStore, type Store, type Transaction } from '../src/index.js';
import { BACKENDS, bytes, text, tickFor, tmpDir } from './helpers.js';

const enc = (items: string[]): Uint8Array => bytes(JSON.stringify(items));
const dec = (b: Uint8Array | undefined): string[] => (b ? JSON.parse(text(b)!) as string[] : []);

/** Moves `item` from one inventory to the other, if `from` has it. */
async function transfer(tx: Transaction, from: string, to: string, item: string): Promise<boolean> {
  const a = dec(await tx.get(from));
  const at = a.indexOf(item);
  if (at < 0) return false;
  const b = dec(await tx.get(to));
  a.splice(at, 1);
  b.push(item);
  tx.put(from, enc(a));
  tx.put(to, enc(b));
  return true;
}

for (const backend of BACKENDS) describe(`[${backend} backend] transactions`, () => {
  let store: Store;
  beforeEach(async () => { store = await openStore({ backend, dir: tmpDir() }); });
  afterEach(() => store.close());

  it('commit all their writes together and resolve to the closure\'s result', async () => {
    await store.put('inv:alice', enc(['sword', 'shield']));
    const moved = await store.transaction((tx) => transfer(tx, 'inv:alice', 'inv:bob', 'sword'));
    expect(moved).to.equal(true);
    expect(dec(await store.get('inv:alice'))).to.deep.equal(['shield']);
    expect(dec(await store.get('inv:bob'))).to.deep.equal(['sword']);
  });

  it('run from a ticker: the outcome arrives inside tick() — committed with its result, conflicted, or aborted by a throw', async () => {
    await store.put('inv:alice', enc(['sword']));
    const t = store.ticker();
    const h1 = t.transaction((tx) => transfer(tx, 'inv:alice', 'inv:bob', 'sword'));
    const h2 = t.transaction(async (tx) => { tx.put('inv:bob', enc([])); throw new Error('changed my mind'); });
    const h3 = t.transaction(async (tx) => {
      await tx.get('hot');
      await store.put('hot', bytes(String(Math.random()))); // someone else always gets there first
      tx.put('hot', bytes('mine'));
    }, { retries: 2 });
    await new Promise((r) => setTimeout(r, 50));
    expect(t.poll(), 'nothing before a tick').to.equal(undefined);
    const got = await tickFor(t, 3);
    const by = new Map(got.map((r) => [r.handle, r]));
    expect([by.get(h1)!.ok, by.get(h1)!.applied, by.get(h1)!.txResult]).to.deep.equal([true, true, true]);
    expect(by.get(h2)!.ok).to.equal(false);
    expect(by.get(h2)!.error).to.be.instanceOf(TransactionAbortedError);
    expect((by.get(h2)!.error as TransactionAbortedError).cause).to.be.instanceOf(Error);
    expect([by.get(h3)!.ok, by.get(h3)!.applied]).to.deep.equal([true, false]);
    expect(dec(await store.get('inv:bob')), 'the aborted one wrote nothing').to.deep.equal(['sword']);
    expect(text(await store.get('hot'))).to.not.equal('mine');
  });

  it('a throw inside writes nothing', async () => {
    await store.put('x', bytes('1'));
    let caught: unknown;
    try {
      await store.transaction(async (tx) => {
        tx.put('x', bytes('2'));
        tx.put('y', bytes('2'));
        expect(text(await tx.get('x')), 'reads see the transaction\'s own writes').to.equal('2');
        throw new Error('changed my mind');
      });
    } catch (e) { caught = e; }
    expect((caught as Error).message).to.equal('changed my mind');
    expect(text(await store.get('x'))).to.equal('1');
    expect(await store.exists('y')).to.equal(false);
  });

  it('concurrent transfers over the same items never duplicate or lose one', async () => {
    const items = Array.from({ length: 12 }, (_, i) => `item${i}`);
    await store.put('inv:A', enc(items));
    await store.put('inv:B', enc([]));
    const runs = Array.from({ length: 60 }, (_, i) => {
      const item = items[i % items.length]!;
      const [from, to] = i % 2 === 0 ? ['inv:A', 'inv:B'] : ['inv:B', 'inv:A'];
      return store.transaction((tx) => transfer(tx, from!, to!, item), { retries: 100 });
    });
    const results = await Promise.all(runs);
    const a = dec(await store.get('inv:A'));
    const b = dec(await store.get('inv:B'));
    expect([...a, ...b].sort(), 'every item exactly once').to.deep.equal([...items].sort());
    expect(results.filter(Boolean).length).to.be.greaterThan(0);
  });

  it('reports a conflict after its retries, having written nothing', async () => {
    await store.put('hot', bytes('0'));
    let caught: unknown;
    try {
      await store.transaction(async (tx) => {
        const v = Number(text(await tx.get('hot')));
        await store.put('hot', bytes(String(v + 100))); // a concurrent writer, every attempt
        tx.put('hot', bytes(String(v + 1)));
        tx.put('side', bytes('effect'));
      }, { retries: 2 });
    } catch (e) { caught = e; }
    expect(caught).to.be.instanceOf(TransactionConflictError);
    expect((caught as TransactionConflictError).attempts).to.equal(3);
    expect(text(await store.get('hot'))).to.equal('300');
    expect(await store.exists('side')).to.equal(false);
  });
});
