/**
 * Shared world state without lost updates (issue 13 §5): updateShared /
 * incrementShared validate before writing anything, combine concurrent
 * updates of one key into one commit, never retry a commit whose outcome is
 * unknown, give up after SHARED_ATTEMPTS conflicts; and 20 rooms of one
 * Colyseus server, driven by real SDK clients, bump one counter 500 times
 * each at once: the final value is exactly 10000. Prints combined vs naive
 * throughput and commits.
 */
import { expect } from 'chai';
import { Server } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { Client, type Room as ClientRoom } from '@colyseus/sdk';
import {
  InvalidArgumentError, InvalidKeyError, OutcomeUnknownError, SchemaMismatchError, SHARED_ATTEMPTS, TransactionConflictError,
  closeProcessStore, decodeRecord, incrementShared, jsonCodec, msgpackCodec, openProcessStore, openStore, processStore, sharedCounterCodec,
  sharedStateMetrics, updateShared, encodeRecord, type BackendFactory, type Codec, type SharedStateMetrics, type Store,
} from '../plugin.js';
import type { Backend, ReplyHandler, WriteOp } from '../src/backend.js';
import { WorkerBackend } from '../src/engines/disk/backend.js';
import { CounterRoom, SHARED_COUNTER, type BumpReply } from './fixtures/sharedRooms.js';
import { freePort } from './support/freePort.js';
import { tmpDir } from './helpers.js';

/** What the wrapped engine does with the next transaction commits. */
interface CommitControl {
  /** Commits that reached the engine (every attempt's commit, including the ones faked below). */
  commits: number;
  /** The next this-many commits are applied, but their answer is replaced by an OutcomeUnknownError (the reply was "lost"). */
  loseAnswers: number;
  /** The next this-many commits are refused as conflicts without reaching the engine. */
  conflicts: number;
}

/** A memory store whose engine's transaction commits are counted, and can lose their answer or conflict on demand. */
async function controlledStore(): Promise<{ store: Store; control: CommitControl }> {
  const control: CommitControl = { commits: 0, loseAnswers: 0, conflicts: 0 };
  const wrap = (inner: Backend): Backend => new Proxy(inner, {
    get(target, prop) {
      if (prop === 'txCommit') {
        return (reads: ReadonlyMap<string, number>, ops: readonly WriteOp[], done: ReplyHandler): void => {
          control.commits++;
          if (control.conflicts > 0) { control.conflicts--; queueMicrotask(() => done({ found: false }, undefined)); return; }
          if (control.loseAnswers > 0) {
            control.loseAnswers--;
            target.txCommit(reads, ops, (reply) => done(reply, new OutcomeUnknownError('the commit\'s answer was lost (test)')));
            return;
          }
          target.txCommit(reads, ops, done);
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const dir = tmpDir('shared-mem');
  const factory: BackendFactory = { kind: 'controlled-memory', open: async (config) => wrap(await WorkerBackend.openMemory(dir, config)) };
  return { store: await openStore({ dir, backend: factory }), control };
}

const diff = (after: SharedStateMetrics, before: SharedStateMetrics): SharedStateMetrics => ({
  updates: after.updates - before.updates, commits: after.commits - before.commits, retries: after.retries - before.retries,
  failures: after.failures - before.failures, conflicts: after.conflicts - before.conflicts, unknownOutcomes: after.unknownOutcomes - before.unknownOutcomes,
});

/** The value stored as `bytes` (undefined when absent), through the record envelope. */
const decoded = <T>(codec: Codec<T>, bytes: Uint8Array | undefined): T | undefined => (bytes === undefined ? undefined : decodeRecord(codec, bytes));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try { await p; } catch (err) { return err; }
  throw new Error('expected a rejection');
}

describe('shared state: updateShared / incrementShared', function () {
  this.timeout(120_000);
  let store: Store;
  let control: CommitControl;
  let n = 0;
  const key = (): string => `shared:test:${++n}`;

  before(async () => { ({ store, control } = await controlledStore()); });
  after(async () => { await store.close(); });

  describe('validation: a typed error at the call, nothing written', () => {
    const cases: [string, () => Promise<unknown>, new (m: string) => Error][] = [
      ['a key that is not a string', () => incrementShared(store, 42 as unknown as string), InvalidKeyError],
      ['an empty key', () => updateShared(store, '', () => 1, sharedCounterCodec), InvalidKeyError],
      ['fn not a function', () => updateShared(store, 'shared:v', 'x' as unknown as () => number, sharedCounterCodec), InvalidArgumentError],
      ['a codec without decode', () => updateShared(store, 'shared:v', () => 1, { encode: () => new Uint8Array() } as never), InvalidArgumentError],
      ['a null codec', () => updateShared(store, 'shared:v', () => 1, null as never), InvalidArgumentError],
      ['a codec whose getter throws', () => updateShared(store, 'shared:v', () => 1, { get encode(): never { throw new Error('boom'); }, decode: () => 1 } as never), InvalidArgumentError],
      ['a store that is not a Store', () => incrementShared({} as Store, 'shared:v'), InvalidArgumentError],
      ['a fractional delta', () => incrementShared(store, 'shared:v', 1.5), InvalidArgumentError],
      ['a NaN delta', () => incrementShared(store, 'shared:v', Number.NaN), InvalidArgumentError],
      ['an unsafe delta', () => incrementShared(store, 'shared:v', 2 ** 53), InvalidArgumentError],
      ['a string delta', () => incrementShared(store, 'shared:v', '1' as unknown as number), InvalidArgumentError],
      ['a codec with a bad version', () => updateShared(store, 'shared:v', () => 1, { ...sharedCounterCodec, version: 0 }), InvalidArgumentError],
      ['fn returning a promise', () => updateShared(store, 'shared:v', async () => 1, sharedCounterCodec as never), InvalidArgumentError],
    ];
    for (const [what, call, type] of cases) {
      it(`${what}: ${type.name}`, async () => {
        const commits = control.commits;
        expect(await rejection(call())).to.be.instanceOf(type);
        expect(await store.get('shared:v')).to.equal(undefined);
        expect(control.commits - commits, 'no commit with writes reached the engine').to.be.at.most(what.startsWith('fn returning') ? 1 : 0);
      });
    }

    it('an increment past the safe-integer range, or of a key that holds no counter, is refused and leaves the value', async () => {
      const k = key();
      await store.put(k, encodeRecord(sharedCounterCodec, Number.MAX_SAFE_INTEGER - 1));
      expect(await incrementShared(store, k)).to.equal(Number.MAX_SAFE_INTEGER);
      expect(await rejection(incrementShared(store, k))).to.be.instanceOf(InvalidArgumentError);
      expect(decoded(sharedCounterCodec, await store.get(k))).to.equal(Number.MAX_SAFE_INTEGER);
      const text = key();
      await store.put(text, encodeRecord(jsonCodec<string>(), 'hello'));
      expect(await rejection(incrementShared(store, text))).to.be.instanceOf(SchemaMismatchError);
      expect(decoded(jsonCodec<string>(), await store.get(text))).to.equal('hello');
      const float = key();
      await store.put(float, encodeRecord(msgpackCodec<number>(), 1.5)); // MessagePack, as a counter, but not an integer
      expect(await rejection(incrementShared(store, float))).to.be.instanceOf(SchemaMismatchError);
      expect(decoded(msgpackCodec<number>(), await store.get(float))).to.equal(1.5);
    });

    it('sharedStateMetrics checks its store', () => {
      expect(() => sharedStateMetrics({} as Store)).to.throw(InvalidArgumentError);
    });
  });

  it('combines: 100 concurrent increments of one key are one commit, each caller gets its own value', async () => {
    const k = key();
    const before = sharedStateMetrics(store);
    const commits = control.commits;
    const values = await Promise.all(Array.from({ length: 100 }, () => incrementShared(store, k)));
    expect([...values].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(values, 'in call order').to.deep.equal([...values].sort((a, b) => a - b));
    expect(control.commits - commits, 'engine commits').to.equal(1);
    expect(diff(sharedStateMetrics(store), before)).to.deep.include({ updates: 100, commits: 1, retries: 0, failures: 0 });
    expect(decoded(sharedCounterCodec, await store.get(k))).to.equal(100);
  });

  it('combines what arrives while a commit is in flight into the next one', async () => {
    const k = key();
    const commits = control.commits;
    const first = incrementShared(store, k);
    await new Promise((r) => setImmediate(r)); // the first commit is now in flight
    const rest = Array.from({ length: 50 }, () => incrementShared(store, k, 2));
    expect(await first).to.equal(1);
    expect(await Promise.all(rest)).to.deep.equal(Array.from({ length: 50 }, (_, i) => 3 + 2 * i));
    expect(control.commits - commits).to.equal(2);
  });

  it('a throwing fn rejects only its caller; the updates folded with it commit', async () => {
    const k = key();
    const codec = jsonCodec<string[]>();
    const a = updateShared(store, k, (v) => [...(v ?? []), 'a'], codec);
    const bad = updateShared<string[]>(store, k, () => { throw new RangeError('no'); }, codec);
    const c = updateShared(store, k, (v) => [...(v ?? []), 'c'], codec);
    expect(await a).to.deep.equal(['a']);
    expect(await rejection(bad)).to.be.instanceOf(RangeError);
    expect(await c).to.deep.equal(['a', 'c']);
    expect(decoded(codec, await store.get(k))).to.deep.equal(['a', 'c']);
  });

  it('an unknown outcome is never retried: every update folded into that commit rejects with it; it applied once', async () => {
    const k = key();
    const before = sharedStateMetrics(store);
    const commits = control.commits;
    control.loseAnswers = 1;
    const calls = Array.from({ length: 5 }, () => incrementShared(store, k));
    const errors = await Promise.all(calls.map(rejection));
    for (const e of errors) expect(e).to.be.instanceOf(OutcomeUnknownError);
    expect(new Set(errors).size, 'the one commit\'s error').to.equal(1);
    expect(control.commits - commits, 'one commit, not retried').to.equal(1);
    // The commit did apply (only its answer was lost): a retry would have counted these 5 twice.
    expect(decoded(sharedCounterCodec, await store.get(k))).to.equal(5);
    expect(diff(sharedStateMetrics(store), before)).to.deep.include({ updates: 0, failures: 5, unknownOutcomes: 5, retries: 0 });
    expect(await incrementShared(store, k), 'the next update reads what was really stored').to.equal(6);
  });

  it('conflicts are retried on the new value; after SHARED_ATTEMPTS of them the updates reject with TransactionConflictError, nothing written', async () => {
    const k = key();
    let before = sharedStateMetrics(store);
    control.conflicts = 3;
    expect(await incrementShared(store, k, 7)).to.equal(7);
    expect(diff(sharedStateMetrics(store), before)).to.deep.include({ updates: 1, commits: 1, retries: 3 });
    before = sharedStateMetrics(store);
    const commits = control.commits;
    control.conflicts = SHARED_ATTEMPTS;
    const errors = await Promise.all([incrementShared(store, k), incrementShared(store, k)].map(rejection));
    for (const e of errors) expect(e).to.be.instanceOf(TransactionConflictError).and.to.have.property('attempts', SHARED_ATTEMPTS);
    expect(control.commits - commits).to.equal(SHARED_ATTEMPTS);
    expect(diff(sharedStateMetrics(store), before)).to.deep.include({ updates: 0, failures: 2, conflicts: 2, retries: SHARED_ATTEMPTS - 1 });
    expect(decoded(sharedCounterCodec, await store.get(k))).to.equal(7);
    expect(await incrementShared(store, k)).to.equal(8);
  });
});

describe('shared state in a Colyseus server (real clients)', function () {
  this.timeout(300_000);
  let server: Server;
  let endpoint: string;

  before(async () => {
    process.env.TICKSTORE_QUIET = '1';
    await openProcessStore({ dir: tmpDir('shared') });
    server = new Server({ transport: new WebSocketTransport(), greet: false, gracefullyShutdown: false } as ConstructorParameters<typeof Server>[0]);
    server.define('counter', CounterRoom);
    const port = await freePort();
    await server.listen(port, '127.0.0.1');
    endpoint = `ws://127.0.0.1:${port}`;
  });
  after(async () => {
    await server.gracefullyShutdown(false);
    await closeProcessStore();
  });

  /** Sends `times` bumps at once; resolves with the room's replies once all came back. */
  function bump(room: ClientRoom, times: number): Promise<BumpReply[]> {
    return new Promise((resolve) => {
      const replies: BumpReply[] = [];
      room.onMessage('bumped', (r: BumpReply) => { replies.push(r); if (replies.length === times) resolve(replies); });
      for (let i = 0; i < times; i++) room.send('bump');
    });
  }

  it('20 rooms bump one counter 500 times each, all at once: exactly 10000, every value handed out once', async () => {
    const ROOMS = 20;
    const BUMPS = 500;
    const rooms = await Promise.all(Array.from({ length: ROOMS }, () => new Client(endpoint).create('counter')));
    expect(new Set(rooms.map((r) => r.roomId)).size, 'distinct rooms').to.equal(ROOMS);
    const before = sharedStateMetrics(processStore());
    const started = performance.now();
    const replies = (await Promise.all(rooms.map((r) => bump(r, BUMPS)))).flat();
    const ms = performance.now() - started;
    const m = diff(sharedStateMetrics(processStore()), before);
    const failed = replies.filter((r): r is { error: string } => 'error' in r);
    expect(failed, 'bumps that failed').to.deep.equal([]);
    expect(decoded(sharedCounterCodec, await processStore().get(SHARED_COUNTER))).to.equal(ROOMS * BUMPS);
    const values = replies.map((r) => (r as { value: number }).value).sort((a, b) => a - b);
    expect(values, 'each bump produced its own value').to.deep.equal(Array.from({ length: ROOMS * BUMPS }, (_, i) => i + 1));
    expect(m.updates).to.equal(ROOMS * BUMPS);
    expect(m.commits, 'combined commits').to.be.below(ROOMS * BUMPS / 4);
    console.log(`      ${ROOMS} rooms x ${BUMPS} bumps over real clients: ${ROOMS * BUMPS} in ${ms.toFixed(0)} ms `
      + `(${Math.round(ROOMS * BUMPS / ms * 1000)}/s), ${m.commits} commits (${(ROOMS * BUMPS / m.commits).toFixed(1)} bumps per commit), ${m.retries} retries`);
    await Promise.all(rooms.map((r) => r.leave()));
  });

  it('measure: combined vs a naive transaction per bump vs naive get+put (20 writers x 500 bumps, disk store)', async () => {
    const store = processStore();
    const WRITERS = 20;
    const BUMPS = 500;
    const N = WRITERS * BUMPS;
    const race = async (bumpOnce: () => Promise<unknown>): Promise<number> => {
      const started = performance.now();
      await Promise.all(Array.from({ length: WRITERS }, async () => { for (let i = 0; i < BUMPS; i++) await bumpOnce(); }));
      return performance.now() - started;
    };
    const read = async (k: string): Promise<number> => decoded(sharedCounterCodec, await store.get(k)) ?? 0;

    const before = sharedStateMetrics(store);
    const combinedMs = await race(() => incrementShared(store, 'measure:combined'));
    const m = diff(sharedStateMetrics(store), before);

    let attempts = 0;
    const naiveTxMs = await race(() => store.transaction(async (tx) => {
      attempts++;
      const b = await tx.get('measure:tx');
      tx.put('measure:tx', encodeRecord(sharedCounterCodec, (b ? decoded(sharedCounterCodec, b)! : 0) + 1));
    }, { retries: 1_000_000 }));

    // The example's old bump: a read, then a blind write of read + 1.
    const naivePutMs = await race(async () => { await store.put('measure:put', encodeRecord(sharedCounterCodec, (await read('measure:put')) + 1)); });

    expect(await read('measure:combined')).to.equal(N);
    expect(await read('measure:tx')).to.equal(N);
    const lost = N - (await read('measure:put'));
    const rate = (ms: number): number => Math.round(N / ms * 1000);
    console.log(`      combined:         ${N} bumps in ${combinedMs.toFixed(0)} ms (${rate(combinedMs)}/s), ${m.commits} commits, ${m.retries} retries`);
    console.log(`      naive tx/bump:    ${N} bumps in ${naiveTxMs.toFixed(0)} ms (${rate(naiveTxMs)}/s), ${N} commits, ${attempts - N} conflicting attempts`);
    console.log(`      naive get+put:    ${N} bumps in ${naivePutMs.toFixed(0)} ms (${rate(naivePutMs)}/s), ${lost} increments LOST`);
    expect(m.commits).to.be.below(N / 4);
  });
});
