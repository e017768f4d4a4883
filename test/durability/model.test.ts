import { expect } from 'chai';
import fc from 'fast-check';
import { openStore, type Store, type SyncMode, type WritePolicy } from '../../src/index.js';
import { compareKeys } from '../../src/engine/scan.js';
import { bytes, text, tickFor, tmpDir, waitFor } from '../helpers.js';

/**
 * Model-based tests: random sequences of store operations — including close
 * and reopen, configure (both sync modes, both write policies, memcache
 * size), and compaction — checked after every step against a plain Map.
 */
const SOAK = Number(process.env.TICKSTORE_SOAK_ITERATIONS ?? 0);
const KEYS = ['a', 'b', 'c', 'd', 'player:1', 'player:2', 'ü-key'];

type Cmd =
  | { t: 'put'; key: string; value: string }
  | { t: 'delete'; key: string }
  | { t: 'get'; key: string; cacheOnRead: boolean }
  | { t: 'tickerBatch'; ops: { key: string; value: string | null }[] }
  | { t: 'putIfAbsent'; key: string; value: string }
  | { t: 'cas'; key: string; matching: boolean; value: string }
  | { t: 'batch'; ops: { key: string; value: string | null }[] }
  | { t: 'reopen' }
  | { t: 'compact' }
  | { t: 'configure'; syncMode: SyncMode; writePolicy: WritePolicy; memcacheCapacity: number };

const key = fc.constantFrom(...KEYS);
const value = fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.string({ minLength: 200, maxLength: 400 }));
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('put' as const), key, value }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('delete' as const), key }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('get' as const), key, cacheOnRead: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('tickerBatch' as const), ops: fc.array(fc.record({ key, value: fc.option(value) }), { minLength: 1, maxLength: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('putIfAbsent' as const), key, value }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('cas' as const), key, matching: fc.boolean(), value }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('batch' as const), ops: fc.array(fc.record({ key, value: fc.option(value) }), { minLength: 1, maxLength: 5 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'compact' as const }) },
  { weight: 1, arbitrary: fc.record({
    t: fc.constant('configure' as const), syncMode: fc.constantFrom<SyncMode>('per-key', 'async-batch'),
    writePolicy: fc.constantFrom<WritePolicy>('evict', 'update'), memcacheCapacity: fc.integer({ min: 1, max: 8 }),
  }) },
);

async function check(store: Store, model: Map<string, string>): Promise<void> {
  if (store.options.syncMode === 'async-batch') await waitFor(() => store.metrics().replicaLag === 0, 'replica');
  for (const k of KEYS) expect(text(await store.get(k)), `key ${k}`).to.equal(model.get(k));
  // A full ordered scan is the model, sorted by UTF-8 bytes.
  const { entries } = await store.scan({ limit: 100 });
  expect(entries.map((e) => [e.key, text(e.value)])).to.deep.equal([...model].sort(([a], [b]) => compareKeys(a, b)));
  for (const k of KEYS) expect(await store.exists(k), `exists ${k}`).to.equal(model.has(k));
  const m = store.metrics();
  expect(m.writeCount, 'live keys in the write store').to.equal(model.size);
  expect(m.readCount, 'live keys in the read store').to.equal(model.size);
}

describe('model-based: random op sequences against a Map', function () {
  this.timeout(600_000);

  it('every step agrees with the model (both sync modes and write policies, reopen, compaction)', async () => {
    let sequences = 0;
    let steps = 0;
    await fc.assert(fc.asyncProperty(fc.array(cmd, { minLength: 5, maxLength: 30 }), async (cmds) => {
      sequences++;
      const dir = tmpDir('model');
      const model = new Map<string, string>();
      let store = await openStore({ dir, compactMinBytes: 0, compactRatio: 0.5, syncIntervalMs: 5 });
      try {
        for (const c of cmds) {
          steps++;
          switch (c.t) {
            case 'put': await store.put(c.key, bytes(c.value)); model.set(c.key, c.value); break;
            case 'delete': expect(await store.delete(c.key)).to.equal(model.has(c.key)); model.delete(c.key); break;
            case 'get': {
              if (store.options.syncMode === 'async-batch') await waitFor(() => store.metrics().replicaLag === 0, 'replica');
              expect(text(await store.get(c.key, { cacheOnRead: c.cacheOnRead }))).to.equal(model.get(c.key));
              break;
            }
            case 'tickerBatch': {
              // One tick's worth of ops: they commit as one group, in order.
              const t = store.ticker();
              const expectFound: boolean[] = [];
              for (const o of c.ops) {
                if (o.value === null) { t.delete(o.key); expectFound.push(model.has(o.key)); model.delete(o.key); } else { t.put(o.key, bytes(o.value)); expectFound.push(true); model.set(o.key, o.value); }
              }
              const rs = await tickFor(t, c.ops.length);
              expect(rs.map((r) => r.found)).to.deep.equal(expectFound);
              t.dispose();
              break;
            }
            case 'putIfAbsent': {
              const applied = await store.putIfAbsent(c.key, bytes(c.value));
              expect(applied).to.equal(!model.has(c.key));
              if (applied) model.set(c.key, c.value);
              break;
            }
            case 'cas': {
              const cur = model.get(c.key);
              const expected = c.matching ? cur : (cur === undefined ? 'not-there' : undefined);
              const applied = await store.compareAndSwap(c.key, expected === undefined ? undefined : bytes(expected), bytes(c.value));
              expect(applied).to.equal(c.matching);
              if (applied) model.set(c.key, c.value);
              break;
            }
            case 'batch': {
              await store.batch(c.ops.map((o) => (o.value === null ? { type: 'delete' as const, key: o.key } : { type: 'put' as const, key: o.key, value: bytes(o.value) })));
              for (const o of c.ops) if (o.value === null) model.delete(o.key); else model.set(o.key, o.value);
              break;
            }
            case 'reopen': await store.close(); store = await openStore({ dir, compactMinBytes: 0, compactRatio: 0.5, syncIntervalMs: 5 }); break;
            case 'compact': await store.compact(); break;
            case 'configure': await store.configure({ syncMode: c.syncMode, writePolicy: c.writePolicy, memcacheCapacity: c.memcacheCapacity }); break;
          }
          await check(store, model);
        }
      } finally { await store.close(); }
    }), { numRuns: SOAK > 0 ? Math.max(50, Math.floor(SOAK / 10)) : 25, seed: Number(process.env.FC_SEED ?? 42) });
    console.log(`      model sequences: ${sequences}, steps checked: ${steps}`);
  });
});
