import { expect } from 'chai';
import { KeyTable, Keydir, locate, type KeyLocation } from '../src/engines/disk/thread/keydir.js';
import { EntryType, entrySize } from '../src/engines/disk/thread/record.js';

/** A small deterministic PRNG. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
}

describe('keydir: the shared key table and its per-log indexes', () => {
  it('agrees with a Map per log through random puts and deletes (growth, backward-shift deletes, arena packing)', () => {
    const r = rng(7);
    const table = new KeyTable();
    const dirs = [new Keydir(table, 1), new Keydir(table, 2)];
    const models = [new Map<string, KeyLocation>(), new Map<string, KeyLocation>()];
    // Few distinct keys against many ops: long probe runs and heavy churn; long keys fill the arena fast.
    const keyOf = (i: number): string => (i % 3 === 0 ? `k${i}:${'x'.repeat(1000 + (i % 7))}` : i % 5 === 0 ? `ключ-${i}-🎲` : `k${i}`);
    for (let step = 0; step < 60_000; step++) {
      const v = r(2);
      const key = keyOf(r(step < 30_000 ? 5000 : 800));
      if (r(3) === 0) {
        expect(dirs[v]!.delete(key)).to.equal(models[v]!.delete(key));
      } else {
        const loc = locate(r(1e9), Buffer.byteLength(key), r(5000), step, r(10) === 0 ? 1e12 + step : undefined);
        if (r(2) === 0) dirs[v]!.set(key, loc);
        else { const b = Buffer.from(`..${key}`); dirs[v]!.applyBytes(EntryType.Put, b, 2, b.length - 2, loc.offset, loc.valLen, loc.seq, loc.deadline); }
        models[v]!.set(key, loc);
      }
      if (step % 4999 === 0 || step === 59_999) {
        for (let i = 0; i < 2; i++) {
          expect(dirs[i]!.size).to.equal(models[i]!.size);
          let live = 0;
          for (const [k, loc] of models[i]!) {
            expect(dirs[i]!.get(k), k).to.deep.equal(loc);
            live += entrySize(loc.keyLen, loc.valLen);
          }
          expect(dirs[i]!.liveBytes).to.equal(live);
          expect(new Set(dirs[i]!.keys())).to.deep.equal(new Set(models[i]!.keys()));
        }
        const union = new Set([...models[0]!.keys(), ...models[1]!.keys()]);
        expect(table.size, 'a key held by neither log leaves the table').to.equal(union.size);
      }
    }
    for (let i = 0; i < 800; i++) {
      const k = keyOf(i);
      for (let j = 0; j < 2; j++) expect(dirs[j]!.has(k), k).to.equal(models[j]!.has(k));
    }
  });

  it('a delete of a key the log does not hold changes nothing; an over-long string is never found', () => {
    const table = new KeyTable();
    const a = new Keydir(table, 1);
    const b = new Keydir(table, 2);
    a.set('p', locate(10, 1, 5, 1, undefined));
    const kb = Buffer.from('p');
    b.applyBytes(EntryType.Delete, kb, 0, 1, 0, 0, 2, undefined);
    expect(a.get('p')).to.deep.equal(locate(10, 1, 5, 1, undefined));
    expect(b.size).to.equal(0);
    expect(table.size).to.equal(1);
    expect(a.get('p'.repeat(5000))).to.equal(undefined);
    // Never indexed cut short: a key longer than the format allows is refused.
    expect(() => a.set('é'.repeat(2000), locate(0, 1, 1, 9, undefined))).to.throw(RangeError);
    expect(table.size).to.equal(1);
    a.delete('p');
    expect(table.size).to.equal(0);
  });

  it('one slot per key across both logs: the second log costs no second copy of the key', () => {
    const table = new KeyTable();
    const a = new Keydir(table, 1);
    const b = new Keydir(table, 2);
    for (let i = 0; i < 5000; i++) a.set(`key${i}`, locate(i, 7, 1, i, undefined));
    for (let i = 0; i < 5000; i++) b.set(`key${i}`, locate(i, 7, 1, i, undefined));
    expect(table.size).to.equal(5000);
    expect(a.slotOf('key42')).to.equal(b.slotOf('key42'));
  });
});
