import { expect } from 'chai';
import fc from 'fast-check';
import { openStore, type Store, type SyncMode, type WritePolicy } from '../../src/index.js';
import { compareKeys } from '../../src/keys.js';
import { bytes, text, tickFor, tmpDir, waitFor } from '../helpers.js';

/**
 * Model-based tests: random sequences of store operations — including
 * transactions (reads, puts, deletes, read-modify-writes; some throw, some
 * meet a concurrent write and retry), puts with deadlines (expired or not,
 * by put, writeDurable, batch and putIfAbsent), writeDurable, flush, close
 * and reopen, configure (both sync modes, both write policies, both flush
 * policies, memcache size), and compaction — checked after every step
 * against a plain Map.
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
  /** `interfere.key` null: the first key the transaction reads (so it most likely conflicts). */
  | { t: 'tx'; steps: TxStep[]; throws: boolean; interfere: { at: number; key: string | null; value: string } | null }
  | { t: 'reopen' }
  | { t: 'compact' }
  | { t: 'configure'; syncMode: SyncMode; writePolicy: WritePolicy; memcacheCapacity: number; grouped: boolean }
  /** A put with a deadline: already past (the key reads absent at once) or far ahead (an ordinary value). */
  | { t: 'putTtl'; key: string; value: string; expired: boolean; how: 'put' | 'durable' | 'batch' | 'putIfAbsent' }
  | { t: 'writeDurable'; key: string; value: string }
  | { t: 'flush' };

/** One step inside a transaction; `append` reads the key and writes it back longer (a read-modify-write). */
type TxStep =
  | { op: 'get'; key: string }
  | { op: 'put'; key: string; value: string }
  | { op: 'delete'; key: string }
  | { op: 'append'; key: string; suffix: string };

const key = fc.constantFrom(...KEYS);
const value = fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.string({ minLength: 200, maxLength: 400 }));
const txStep: fc.Arbitrary<TxStep> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('get' as const), key }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('put' as const), key, value }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), key }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('append' as const), key, suffix: fc.string({ minLength: 1, maxLength: 8 }) }) },
);
const txCmd = fc.record({
  t: fc.constant('tx' as const),
  steps: fc.array(txStep, { minLength: 0, maxLength: 8 }),
  throws: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  interfere: fc.option(fc.record({
    at: fc.nat({ max: 4 }), key: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: key }), value,
  }), { freq: 3 }),
});
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('put' as const), key, value }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('delete' as const), key }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('get' as const), key, cacheOnRead: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('tickerBatch' as const), ops: fc.array(fc.record({ key, value: fc.option(value) }), { minLength: 1, maxLength: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('putIfAbsent' as const), key, value }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('cas' as const), key, matching: fc.boolean(), value }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('batch' as const), ops: fc.array(fc.record({ key, value: fc.option(value) }), { minLength: 1, maxLength: 5 }) }) },
  { weight: 5, arbitrary: txCmd },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('putTtl' as const), key, value, expired: fc.boolean(), how: fc.constantFrom('put' as const, 'durable' as const, 'batch' as const, 'putIfAbsent' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('writeDurable' as const), key, value }) },
  { weight: 1, arbitrary: fc.constant({ t: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'compact' as const }) },
  { weight: 1, arbitrary: fc.record({
    t: fc.constant('configure' as const), syncMode: fc.constantFrom<SyncMode>('per-key', 'async-batch'),
    writePolicy: fc.constantFrom<WritePolicy>('evict', 'update'), memcacheCapacity: fc.integer({ min: 1, max: 8 }), grouped: fc.boolean(),
  }) },
);

/**
 * `ghosts`: keys given an already-expired deadline and not written since.
 * They read as absent, but the indexes count them until a compaction drops
 * them (an explicit compact() always does; a background one may).
 */
async function check(store: Store, model: Map<string, string>, ghosts: Set<string>): Promise<void> {
  for (const k of ghosts) if (model.has(k)) ghosts.delete(k);
  if (store.options.syncMode === 'async-batch') await waitFor(() => store.metrics().replicaLag === 0, 'replica');
  for (const k of KEYS) expect(text(await store.get(k)), `key ${k}`).to.equal(model.get(k));
  // A full ordered scan is the model, sorted by UTF-8 bytes.
  const { entries } = await store.scan({ limit: 100 });
  expect(entries.map((e) => [e.key, text(e.value)])).to.deep.equal([...model].sort(([a], [b]) => compareKeys(a, b)));
  for (const k of KEYS) expect(await store.exists(k), `exists ${k}`).to.equal(model.has(k));
  const m = store.metrics();
  expect(m.writeCount, 'live keys in the write store').to.be.within(model.size, model.size + ghosts.size);
  expect(m.readCount, 'live keys in the read store').to.be.within(model.size, model.size + ghosts.size);
}

class Abort extends Error {}
const txStats = { run: 0, committed: 0, thrown: 0, retried: 0 };

/**
 * Runs a transaction command. Every read inside must see the model plus the
 * transaction's own writes. A concurrent write (`interfere`, on the first
 * attempt, right after step `at`) is acknowledged at once; if the
 * transaction had already read that key from the store it must conflict and
 * run again, else it commits on the first attempt. A throw writes nothing.
 */
async function runTx(store: Store, model: Map<string, string>, c: Extract<Cmd, { t: 'tx' }>): Promise<void> {
  let attempts = 0;
  // Keys read from the store (not from own writes) before the interfering write, on the first attempt.
  const readFromStore = new Set<string>();
  let interfered = false;
  const firstRead = c.steps.find((st) => st.op === 'get' || st.op === 'append')?.key ?? KEYS[0]!;
  const target = c.interfere ? c.interfere.key ?? firstRead : undefined;
  const run = store.transaction(async (tx) => {
    attempts++;
    const own = new Map<string, string | undefined>();
    const seen = (k: string): string | undefined => (own.has(k) ? own.get(k) : model.get(k));
    const interfere = async (i: number): Promise<void> => {
      if (attempts !== 1 || !c.interfere || c.interfere.at !== i) return;
      await store.put(target!, bytes(c.interfere.value));
      model.set(target!, c.interfere.value);
      interfered = true;
    };
    await interfere(0);
    for (const [i, st] of c.steps.entries()) {
      if (st.op === 'get' || st.op === 'append') {
        if (!own.has(st.key) && !interfered) readFromStore.add(st.key);
        const want = seen(st.key);
        expect(text(await tx.get(st.key)), `tx read of ${st.key} (attempt ${attempts})`).to.equal(want);
        if (st.op === 'append') {
          const next = (want ?? '') + st.suffix;
          tx.put(st.key, bytes(next));
          own.set(st.key, next);
        }
      } else if (st.op === 'put') {
        tx.put(st.key, bytes(st.value));
        own.set(st.key, st.value);
      } else {
        tx.delete(st.key);
        own.set(st.key, undefined);
      }
      await interfere(i + 1);
    }
    if (c.throws) throw new Abort('changed my mind');
    return own;
  });
  let own: Map<string, string | undefined> | undefined;
  try { own = await run; } catch (err) {
    if (!(err instanceof Abort)) throw err;
  }
  const conflicted = interfered && readFromStore.has(target!);
  // A conflicted attempt is retried, a throwing one too: its throw is passed on only if what it read is still current.
  expect(attempts, 'attempts').to.equal(conflicted ? 2 : 1);
  expect(own === undefined, 'a throw rejects with it').to.equal(c.throws);
  txStats.run++;
  if (own) txStats.committed++; else txStats.thrown++;
  if (attempts > 1) txStats.retried++;
  for (const [k, v] of own ?? []) if (v === undefined) model.delete(k); else model.set(k, v);
}

describe('model-based: random op sequences against a Map', function () {
  this.timeout(600_000);

  it('every step agrees with the model (transactions, both sync modes and write policies, reopen, compaction)', async () => {
    let sequences = 0;
    let steps = 0;
    await fc.assert(fc.asyncProperty(fc.array(cmd, { minLength: 5, maxLength: 30 }), async (cmds) => {
      sequences++;
      const dir = tmpDir('model');
      const model = new Map<string, string>();
      const ghosts = new Set<string>();
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
            case 'tx': await runTx(store, model, c); break;
            case 'reopen': await store.close(); store = await openStore({ dir, compactMinBytes: 0, compactRatio: 0.5, syncIntervalMs: 5 }); break;
            case 'compact': await store.compact(); ghosts.clear(); break;
            case 'configure': {
              const flushPolicy = c.grouped ? { mode: 'grouped' as const, intervalMs: 20 } : { mode: 'immediate' as const };
              await store.configure({ syncMode: c.syncMode, writePolicy: c.writePolicy, memcacheCapacity: c.memcacheCapacity, flushPolicy });
              break;
            }
            case 'putTtl': {
              const expiry = c.expired ? { expiresAt: Date.now() - 1 } : { ttlMs: 3_600_000 };
              if (c.how === 'putIfAbsent') {
                const applied = await store.putIfAbsent(c.key, bytes(c.value), expiry);
                expect(applied).to.equal(!model.has(c.key));
                if (!applied) break;
              } else if (c.how === 'batch') await store.batch([{ type: 'put', key: c.key, value: bytes(c.value), ...expiry }]);
              else if (c.how === 'durable') await store.writeDurable(c.key, bytes(c.value), expiry);
              else await store.put(c.key, bytes(c.value), expiry);
              if (c.expired) { model.delete(c.key); ghosts.add(c.key); } else model.set(c.key, c.value);
              break;
            }
            case 'writeDurable': {
              await store.writeDurable(c.key, bytes(c.value));
              expect(store.metrics().unsyncedBytes, 'writeDurable leaves nothing unsynced').to.equal(0);
              model.set(c.key, c.value);
              break;
            }
            case 'flush': await store.flush(); expect(store.metrics().unsyncedBytes).to.equal(0); break;
          }
          await check(store, model, ghosts);
        }
      } finally { await store.close(); }
    }), {
      numRuns: SOAK > 0 ? Math.max(50, Math.floor(SOAK / 10)) : 25, seed: Number(process.env.FC_SEED ?? 42),
      // A failure shrinks for many minutes (each run opens a store): report it, part-shrunk, within the test's timeout.
      ...(SOAK > 0 ? {} : { interruptAfterTimeLimit: 120_000 }),
    });
    console.log(`      model sequences: ${sequences}, steps checked: ${steps}; transactions: ${txStats.run} ` +
      `(${txStats.committed} committed, ${txStats.thrown} threw, ${txStats.retried} retried after a conflict)`);
  });
});
