import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  InvalidArgumentError, InvalidConfigError, InvalidKeyError, InvalidValueError, StoreClosedError, TickstoreError, buildKey, createRegistry, openStore, MAX_VALUE_BYTES,
  type Store,
} from '../src/index.js';
import { Memcache } from '../src/memcache.js';
import { StorePlugin, openProcessStore } from '../plugin.js';
import { bytes, text, tickFor, tmpDir, waitFor } from './helpers.js';

/** What a call threw or its promise rejected with (undefined: neither). */
async function failure(f: () => unknown): Promise<unknown> {
  try { await f(); } catch (err) { return err; }
  return undefined;
}

/** Asserts `f` does not throw synchronously and that its promise rejects with `type`. */
async function rejects(f: () => unknown, type: abstract new (...a: never[]) => TickstoreError, what = ''): Promise<TickstoreError> {
  let p: unknown;
  try { p = f(); } catch (err) { expect.fail(`${what}: threw synchronously (${String(err)}) instead of rejecting`); }
  expect(p, what).to.be.instanceOf(Promise);
  const err = await failure(() => p);
  expect(err, `${what}: ${String(err)}`).to.be.instanceOf(type);
  return err as TickstoreError;
}

/** Asserts `f` throws `type` at the call. */
function throws(f: () => unknown, type: abstract new (...a: never[]) => TickstoreError, what = ''): TickstoreError {
  let caught: unknown;
  try { f(); } catch (err) { caught = err; }
  expect(caught, `${what}: ${String(caught)}`).to.be.instanceOf(type);
  return caught as TickstoreError;
}

const memory = (over: Record<string, unknown> = {}): Promise<Store> => openStore({ dir: tmpDir('hard'), backend: 'memory', ...over });

function threads(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}

describe('hardening: the public API under bad input (issue 11)', () => {
  it('1: every numeric tunable has an upper bound; configure checks everything before changing anything', async () => {
    for (const [k, v] of [
      ['memcacheCapacity', 2 ** 33], ['memcacheCapacity', 1e9], ['memcacheCapacity', 2 ** 20 + 1], ['memcacheMaxBytes', 2 ** 40 + 1],
      ['compactMinBytes', 2 ** 48 + 1], ['syncIntervalMs', 2 ** 31], ['flushPolicy', { mode: 'grouped', intervalMs: 2 ** 31 }],
    ] as const) {
      await rejects(() => memory({ [k]: v }), InvalidConfigError, `openStore ${k}: ${JSON.stringify(v)}`);
    }
    const store = await memory({ memcacheCapacity: 2 ** 20 });
    try {
      const before = store.options;
      await rejects(() => store.configure({ memcacheCapacity: 2 ** 33 }), InvalidConfigError, 'configure 2^33');
      await rejects(() => store.configure({ syncIntervalMs: 7, memcacheMaxBytes: 0 }), InvalidConfigError, 'configure half-bad');
      expect(store.options, 'a refused configure changed nothing').to.deep.equal(before);
      await store.configure({ memcacheCapacity: 100, syncIntervalMs: 2 ** 31 - 1 });
      expect(store.options.memcacheCapacity).to.equal(100);
    } finally { await store.close(); }
  });

  it('2: options are read by property access: getters and prototypes count, and are checked', async () => {
    const store = await memory();
    try {
      await store.put('proto', bytes('v'), Object.create({ expiresAt: 1 }) as { expiresAt: number });
      expect(await store.get('proto'), 'an inherited expiresAt applies').to.equal(undefined);
      await store.put('getter', bytes('v'), { get expiresAt() { return 1; } } as { expiresAt: number });
      expect(await store.get('getter'), 'a getter expiresAt applies').to.equal(undefined);
      await rejects(() => store.put('bad', bytes('v'), Object.create({ ttlMs: -5 }) as { ttlMs: number }), InvalidArgumentError, 'inherited ttlMs -5');
      expect(await store.exists('bad'), 'the refused put wrote nothing').to.equal(false);
      await store.batch([Object.assign(Object.create({ expiresAt: 1 }) as object, { type: 'put', key: 'b', value: bytes('v') }) as never]);
      expect(await store.get('b'), 'an inherited expiresAt on a batch op applies').to.equal(undefined);
      await store.transaction((tx) => { tx.put('t', bytes('v'), Object.create({ expiresAt: 1 }) as { expiresAt: number }); });
      expect(await store.get('t'), 'an inherited expiresAt on a transaction put applies').to.equal(undefined);
      await store.writeDurable('d', bytes('v'), Object.create({ expiresAt: 1 }) as { expiresAt: number });
      expect(await store.get('d'), 'writeDurable reads its options too').to.equal(undefined);
    } finally { await store.close(); }
    const inherited = Object.assign(Object.create({ syncMode: 'async-batch', flushPolicy: Object.create({ mode: 'grouped', intervalMs: 10 }) }) as object,
      { dir: tmpDir('hard'), backend: 'memory' }) as never;
    const s2 = await openStore(inherited);
    try {
      expect(s2.options.syncMode, 'an inherited open option applies').to.equal('async-batch');
      expect(s2.options.flushPolicy).to.deep.equal({ mode: 'grouped', intervalMs: 10 });
    } finally { await s2.close(); }
  });

  it('3: a failed open tears down the engine it started: the same dir reopens, no thread is left', async () => {
    const dir = tmpDir('hard-open');
    const baseline = threads();
    const proto = Memcache.prototype as unknown as { make: (...a: unknown[]) => unknown };
    const make = proto.make;
    proto.make = () => { throw new InvalidConfigError('injected failure after the engine opened'); };
    try {
      const err = await failure(() => openStore({ dir }));
      expect(String(err)).to.include('injected failure');
    } finally { proto.make = make; }
    const store = await openStore({ dir }); // before the fix: StoreLockedError naming this very process
    await store.put('k', bytes('v'));
    await store.close();
    await waitFor(() => threads() <= baseline, `thread count back to ${baseline} (now ${threads()})`);
  });

  it('7: messages never throw on BigInt or Symbol; registry and transaction arguments are typed', async () => {
    await rejects(() => memory({ flushPolicy: 1n }), InvalidConfigError, 'flushPolicy: 1n');
    await rejects(() => memory({ flushPolicy: { mode: 1n } }), InvalidConfigError, 'flushPolicy { mode: 1n }');
    await rejects(() => memory({ syncMode: Symbol('x') }), InvalidConfigError, 'syncMode: Symbol');
    const reg = createRegistry(tmpDir('hard-reg'));
    await rejects(() => reg.open(1n as never), InvalidArgumentError, 'registry.open(1n)');
    await rejects(() => reg.open(Symbol('s') as never), InvalidArgumentError, 'registry.open(Symbol)');
    await rejects(() => reg.open('x', null as never), InvalidArgumentError, 'registry.open(id, null)');
    await rejects(() => reg.open('x', { backend: 1n } as never), InvalidConfigError, 'registry.open(id, { backend: 1n })');
    throws(() => createRegistry(5 as never), InvalidConfigError, 'createRegistry(5)');
    throws(() => createRegistry(tmpDir('r'), { memcacheCapacity: 1n } as never), InvalidConfigError, 'createRegistry defaults');
    const store = await memory();
    try {
      await rejects(() => store.transaction(null as never), InvalidArgumentError, 'transaction(null)');
      await rejects(() => store.transaction(() => 1, null as never), InvalidArgumentError, 'transaction(fn, null)');
      await rejects(() => store.transaction(() => 1, { retries: 1n } as never), InvalidArgumentError, 'retries: 1n');
      await rejects(() => store.put(1n as never, bytes('v')), InvalidKeyError, 'put(1n)');
      await rejects(() => store.put('k', 1n as never), InvalidValueError, 'put(k, 1n)');
    } finally { await store.close(); }
  });

  it('8: an oversized batch or transaction is refused before any bookkeeping; the keys stay cacheable', async () => {
    const store = await memory();
    try {
      await store.put('k0', bytes('cached'));
      await store.get('k0');
      const big = new Uint8Array(16 * 1024 * 1024);
      const ops = Array.from({ length: 260 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: big }));
      const err = await rejects(() => store.batch(ops), InvalidArgumentError, '260 x 16 MiB batch');
      expect(err.message).to.include('MAX_BATCH_BYTES');
      const ticker = store.ticker();
      ticker.get('k0');
      const [r] = await tickFor(ticker, 1);
      expect(r!.fromCache, 'k0 is still served from the memcache').to.equal(true);
      expect(text(r!.value)).to.equal('cached');
      let staged = 0;
      const txErr = await failure(() => store.transaction((tx) => { for (let i = 0; i < 9; i++) { tx.put(`t${i}`, big); staged++; } }));
      expect(txErr, String(txErr)).to.be.instanceOf(InvalidArgumentError);
      expect(staged, 'the put that crossed the bound threw').to.equal(7);
      expect(await store.exists('t0'), 'nothing of it was written').to.equal(false);
      // A throw anywhere in the submit path settles the key's in-flight count.
      const backend = (store as unknown as { backend: { put: (...a: unknown[]) => void } }).backend;
      const put = backend.put;
      backend.put = () => { throw new RangeError('injected submit failure'); };
      try {
        const e = await failure(() => store.put('k0', bytes('x')));
        expect(e, String(e)).to.be.instanceOf(TickstoreError);
      } finally { backend.put = put; }
      await store.get('k0');
      ticker.get('k0');
      const [again] = await tickFor(ticker, 1);
      expect(again!.fromCache, 'k0 is cacheable again after the failed submit').to.equal(true);
    } finally { await store.close(); }
  });

  it('9: callbacks are checked at the call, not inside a later tick()', async () => {
    const store = await memory();
    try {
      throws(() => store.ticker({ onResult: 5 } as never), InvalidArgumentError, 'ticker({ onResult: 5 })');
      const ticker = store.ticker();
      throws(() => ticker.watch({ key: 'k' }, 5 as never), InvalidArgumentError, 'watch(target, 5)');
      throws(() => ticker.watch({ key: 'k' }, undefined as never), InvalidArgumentError, 'watch(target)');
    } finally { await store.close(); }
  });

  it('10: every promise form rejects, never throws at the call', async () => {
    const store = await memory();
    const evil = { get cacheOnRead(): boolean { throw new Error('getter'); } };
    const cases: [string, () => unknown, abstract new (...a: never[]) => TickstoreError][] = [
      ['get', () => store.get(5 as never), InvalidKeyError],
      ['get options getter', () => store.get('k', evil), InvalidArgumentError],
      ['put', () => store.put('k', 5 as never), InvalidValueError],
      ['writeDurable', () => store.writeDurable('k', bytes('v'), 5 as never), InvalidArgumentError],
      ['delete', () => store.delete(null as never), InvalidKeyError],
      ['batch', () => store.batch(5 as never), InvalidArgumentError],
      ['putIfAbsent', () => store.putIfAbsent('k', bytes('v'), null as never), InvalidArgumentError],
      ['compareAndSwap', () => store.compareAndSwap('k', 5 as never, bytes('v')), InvalidValueError],
      ['putVersioned', () => store.putVersioned('k', bytes('v'), 'x' as never), InvalidArgumentError],
      ['version', () => store.version(Symbol('k') as never), InvalidKeyError],
      ['exists', () => store.exists('\uD800'), InvalidKeyError],
      ['scan', () => store.scan(5 as never), InvalidArgumentError],
      ['transaction', () => store.transaction(5 as never), InvalidArgumentError],
      ['configure', () => store.configure({ bogus: 1 } as never), InvalidConfigError],
      ['configure null', () => store.configure(null as never), InvalidConfigError],
    ];
    try {
      for (const [what, f, type] of cases) await rejects(f, type, what);
    } finally { await store.close(); }
    for (const [what, f] of [['compact', () => store.compact()], ['flush', () => store.flush()], ['get', () => store.get('k')]] as const) {
      await rejects(f, StoreClosedError, `${what} after close`);
    }
  });

  it('11: loose option checks: retries, cacheOnRead, watch prefixes, unknown option names', async () => {
    const store = await memory();
    try {
      let runs = 0;
      for (const retries of ['3', 1.5, -1, 1_000_001, NaN]) {
        await rejects(() => store.transaction(() => { runs++; }, { retries } as never), InvalidArgumentError, `retries ${String(retries)}`);
      }
      expect(runs, 'no refused transaction ran its closure').to.equal(0);
      await store.transaction(() => { runs++; }, { retries: 0 });
      expect(runs).to.equal(1);
      const ticker = store.ticker();
      throws(() => ticker.transaction(null as never), InvalidArgumentError, 'ticker.transaction(null)');
      throws(() => ticker.transaction(() => 1, { retries: '3' } as never), InvalidArgumentError, 'ticker retries "3"');
      throws(() => ticker.get('k', { cacheOnRead: 'no' } as never), InvalidArgumentError, 'ticker cacheOnRead');
      await rejects(() => store.get('k', { cacheOnRead: 1 } as never), InvalidArgumentError, 'cacheOnRead: 1');
      throws(() => ticker.watch({ prefix: 'a\uD800' }, () => undefined), InvalidKeyError, 'lone-surrogate prefix');
      throws(() => ticker.watch({ key: 'k', prefix: 'p' } as never, () => undefined), InvalidKeyError, 'key and prefix');
      ticker.watch({ prefix: '' }, () => undefined);
      const typo = await rejects(() => memory({ syncmode: 'per-key' }), InvalidConfigError, 'syncmode');
      expect(typo.message).to.include('"syncmode"').and.to.include('"syncMode"');
      for (const [what, f] of [
        ['put', () => ticker.put('k', bytes('v'), { ttl: 5 } as never)],
        ['putIf', () => ticker.putIf('k', bytes('v'), { absent: true }, { durabel: true } as never)],
        ['condition', () => ticker.putIf('k', bytes('v'), { version: 1, extra: 1 } as never)],
        ['batch delete', () => ticker.batch([{ type: 'delete', key: 'k', value: bytes('v') } as never])],
        ['scan', () => ticker.scan({ limt: 5 } as never)],
        ['ticker', () => store.ticker({ onresult: () => undefined } as never)],
        ['transaction', () => ticker.transaction(() => 1, { retry: 3 } as never)],
        ['watch', () => ticker.watch({ key: 'k', exact: true } as never, () => undefined)],
      ] as const) {
        const e = throws(f, InvalidArgumentError, `unknown ${what} option`);
        expect(e.message, what).to.include('unknown');
      }
      await rejects(() => memory({ flushPolicy: { mode: 'grouped', intervalMS: 5 } }), InvalidConfigError, 'flushPolicy typo');
      await rejects(() => createRegistry(tmpDir('r')).open('x', { backnd: 'memory' } as never), InvalidArgumentError, 'registry option typo');
      await rejects(() => store.configure({ compactratio: 0.5 } as never), InvalidConfigError, 'configure typo');
    } finally { await store.close(); }
  });

  it('13: an open during the last release\'s close waits for it (disk backend)', async () => {
    const reg = createRegistry(tmpDir('hard-race'));
    const a = await reg.open('world');
    await a.store.put('k', bytes('v'));
    // Hold the close back (as a close with much to finish would be): before the fix the second open
    // started a store on the still-locked directory meanwhile, and got StoreLockedError naming this process.
    let finishClose!: () => void;
    const held = new Promise<void>((r) => { finishClose = r; });
    const close = a.store.close.bind(a.store);
    a.store.close = () => held.then(close);
    const releasing = a.release();
    const opening = reg.open('world');
    setTimeout(finishClose, 1500);
    const b = await opening;
    await releasing;
    expect(b.store).to.not.equal(a.store);
    expect(text(await b.store.get('k'))).to.equal('v');
    const closing = b.release();
    const [c, d] = await Promise.all([reg.open('world'), reg.open('world')]);
    await closing;
    expect(c.store, 'opens that waited on one close share the new store').to.equal(d.store);
    await c.release();
    await d.release();
    expect(reg.openIds).to.deep.equal([]);
  });

  it('arbitrary values: throwing getters, Proxies, detached buffers and the like give typed errors at the call', async () => {
    const store = await memory();
    const ticker = store.ticker();
    const boom = { get ttlMs(): number { throw new Error('getter'); } };
    const trap = new Proxy({}, { ownKeys() { throw new Error('trap'); } });
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    const detached = new Uint8Array(new ArrayBuffer(8));
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    try {
      throws(() => ticker.put('k', bytes('v'), boom), InvalidArgumentError, 'throwing getter');
      throws(() => ticker.put('k', bytes('v'), trap as never), InvalidArgumentError, 'throwing ownKeys trap');
      throws(() => ticker.scan(revoked as never), InvalidArgumentError, 'revoked proxy');
      throws(() => ticker.put('k', new Proxy(bytes('v'), {})), InvalidValueError, 'Proxy of a Uint8Array');
      throws(() => ticker.put('k', detached), InvalidValueError, 'detached buffer');
      throws(() => ticker.put('k', [1, 2] as never), InvalidValueError, 'array value');
      throws(() => ticker.batch(new Proxy([], { get() { throw new Error('trap'); } })), InvalidArgumentError, 'batch Proxy');
      throws(() => ticker.put('k', bytes('v'), [] as never), InvalidArgumentError, 'array options');
      throws(() => ticker.putIf('k', bytes('v'), new Proxy({}, { has() { throw new Error('trap'); } }) as never), InvalidArgumentError, 'condition Proxy');
      throws(() => buildKey(1, 2, new Proxy([], { get() { throw new Error('trap'); } })), InvalidArgumentError, 'buildKey params Proxy');
      throws(() => buildKey(1, 2n ** 64n), InvalidArgumentError, 'buildKey huge');
      throws(() => buildKey(Symbol('x') as never, 2), InvalidArgumentError, 'buildKey Symbol');
      await rejects(() => openStore({ get dir(): string { throw new Error('getter'); } }), InvalidConfigError, 'openStore dir getter');
      await rejects(() => openStore({ dir: 'a\uD800' }), InvalidConfigError, 'openStore lone-surrogate dir');
      await rejects(() => store.configure(trap as never), InvalidConfigError, 'configure Proxy');
      const sub = bytes('xxvaluexx').subarray(2, 7);
      ticker.put('sub', sub);
      await tickFor(ticker, 1);
      expect(text(await store.get('sub')), 'a subview stores its own bytes').to.equal('value');
      expect(await store.exists('k'), 'no refused call wrote').to.equal(false);
    } finally { await store.close(); }
  });

  it('plugin options and arguments are checked at the call', async () => {
    for (const [what, o] of [
      ['onResult: 5', { onResult: 5 }], ['userId: 1', { userId: 1 }], ['requireUserId: "no"', { requireUserId: 'no' }],
      ['store: {}', { store: {} }], ['typo', { requireUserID: false }], ['null', null],
    ] as const) {
      throws(() => new StorePlugin(o as never), InvalidConfigError, `new StorePlugin(${what})`);
    }
    const store = await memory();
    try {
      const plugin = new StorePlugin({ store, requireUserId: false });
      await rejects(() => plugin.getShared('k', null as never), InvalidArgumentError, 'getShared without a codec');
      await rejects(() => plugin.setShared('k', 1, { encode: 5 } as never), InvalidArgumentError, 'setShared with a bad codec');
      throws(() => plugin.keyOf(null as never, 1), InvalidArgumentError, 'keyOf(null)');
      await rejects(() => openProcessStore({ get dir(): string { throw new Error('getter'); } }), InvalidConfigError, 'openProcessStore dir getter');
    } finally { await store.close(); }
  });

  it('many large writes in one turn travel in more than one message, all acknowledged in order', async () => {
    const store = await openStore({ dir: tmpDir() });
    try {
      const big = (i: number): Uint8Array => new Uint8Array(16 * 1024 * 1024).fill(i);
      // 6 x 16 MiB issued in one turn: 96 MiB of ops, past the 64 MiB a message is let grow to.
      const acks = await Promise.all([...Array(6)].map((_, i) => store.put(`big:${i}`, big(i + 1))));
      expect(acks).to.have.length(6);
      for (let i = 0; i < 6; i++) {
        const v = await store.get(`big:${i}`);
        expect(v?.length).to.equal(16 * 1024 * 1024);
        expect(v?.[12345], `big:${i}`).to.equal(i + 1);
      }
    } finally { await store.close(); }
  });

  describe('values are measured after every option getter ran, with the intrinsic accessors (review)', () => {
    it('a value whose buffer grows past MAX_VALUE_BYTES in an option getter is refused, not acknowledged and then corrupt', async () => {
      const store = await openStore({ dir: tmpDir() });
      try {
        const ab = new ArrayBuffer(1024, { maxByteLength: MAX_VALUE_BYTES + 8192 });
        const v = new Uint8Array(ab);
        await rejects(() => store.put('grow', v, { get ttlMs(): undefined { ab.resize(MAX_VALUE_BYTES + 4096); return undefined; } }), InvalidValueError, 'put grow');
        ab.resize(1024);
        const t = store.ticker();
        throws(() => t.putIf('grow', v, { absent: true }, { get ttlMs(): undefined { ab.resize(MAX_VALUE_BYTES + 4096); return undefined; } }), InvalidValueError, 'putIf grow');
        expect(await store.exists('grow'), 'nothing written').to.equal(false);
        // Within the bound, growing in the getter stores what the value holds when measured.
        ab.resize(16);
        await store.put('grown', v, { get ttlMs(): undefined { ab.resize(64); return undefined; } });
        expect((await store.get('grown', { cacheOnRead: false }))?.length).to.equal(64);
        await store.compact();
        expect((await store.get('grown', { cacheOnRead: false }))?.length, 'still readable after compaction').to.equal(64);
      } finally { await store.close(); }
    });

    it('a buffer detached in an option getter, or by a later batch op, is InvalidValueError, not an I/O error or a TypeError', async () => {
      const store = await memory();
      try {
        const detaching = (victim: Uint8Array): object => ({ get ttlMs(): undefined { structuredClone(victim.buffer, { transfer: [victim.buffer as ArrayBuffer] }); return undefined; } });
        let v = new Uint8Array(8);
        await rejects(() => store.put('d', v, detaching(v)), InvalidValueError, 'put detached in its getter');
        v = new Uint8Array(8);
        throws(() => store.ticker().put('d', v, detaching(v)), InvalidValueError, 'ticker.put detached in its getter');
        v = new Uint8Array(8);
        await rejects(() => store.batch([{ type: 'put', key: 'd1', value: v }, { type: 'put', key: 'd2', value: new Uint8Array(1), ...{}, get ttlMs(): undefined { structuredClone(v.buffer, { transfer: [v.buffer] }); return undefined; } }]),
          InvalidValueError, 'batch: a later op detaches an earlier value');
        expect(await store.exists('d') || await store.exists('d1') || await store.exists('d2'), 'nothing written').to.equal(false);
      } finally { await store.close(); }
    });

    it('a subclass that lies about length stores exactly its bytes: no other key\'s bytes, no uninitialised memory', async () => {
      const store = await openStore({ dir: tmpDir() });
      try {
        await store.put('secret', bytes('TOPSECRET-password-'.repeat(20)));
        class Long extends Uint8Array { override get length(): number { return 200; } }
        class Short extends Uint8Array { override get length(): number { return 3; } }
        class Zero extends Uint8Array { override get length(): number { return 0; } }
        await store.put('mine', new Long(4).fill(65));
        expect(text(await store.get('mine', { cacheOnRead: false }))).to.equal('AAAA');
        await store.batch([{ type: 'put', key: 'b', value: new Long(4).fill(66) }]);
        expect(text(await store.get('b', { cacheOnRead: false }))).to.equal('BBBB');
        await store.put('s', new Short(10).fill(67));
        expect((await store.get('s', { cacheOnRead: false }))?.length).to.equal(10);
        await rejects(() => store.put('z', new Zero(MAX_VALUE_BYTES + 1)), InvalidValueError, 'a huge value claiming length 0');
        const own = new Uint8Array(4).fill(69);
        Object.defineProperty(own, 'length', { get: () => 200 });
        await store.put('own', own);
        expect(text(await store.get('own', { cacheOnRead: false })), 'an instance with its own length').to.equal('EEEE');
        await store.transaction((tx) => { tx.put('tx', new Long(2).fill(68)); });
        expect(text(await store.get('tx', { cacheOnRead: false }))).to.equal('DD');
      } finally { await store.close(); }
    });
  });
});
