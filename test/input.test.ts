import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  InvalidConfigError, InvalidKeyError, InvalidValueError, MAX_KEY_BYTES, MAX_VALUE_BYTES, StoreClosedError,
  openStore, type Store, type TickstoreError,
} from '../src/index.js';
import { bytes, tickFor, tmpDir } from './helpers.js';

type ErrorClass = new (...args: never[]) => TickstoreError;

const badKeys: [string, unknown][] = [
  ['a number', 42], ['undefined', undefined], ['null', null], ['an object', { k: 1 }], ['a Buffer', Buffer.from('k')],
  ['empty', ''], ['one byte too long', 'x'.repeat(MAX_KEY_BYTES + 1)],
  ['too long in UTF-8 bytes', 'é'.repeat(MAX_KEY_BYTES / 2 + 1)], ['a lone surrogate', 'a\ud800b'],
];
const badValues: [string, unknown][] = [
  ['a string', 'v'], ['undefined', undefined], ['null', null], ['a number', 1], ['an array', [1, 2]],
  ['an ArrayBuffer', new ArrayBuffer(4)], ['over the maximum', new Uint8Array(MAX_VALUE_BYTES + 1)],
];

describe('bad input: a typed error at the call site, nothing written', () => {
  let dir: string;
  let store: Store;
  before(async () => { dir = tmpDir(); store = await openStore({ dir }); await store.put('ok', bytes('1')); });
  after(() => store.close());

  const writeLog = (): Buffer => readFileSync(join(dir, 'write.log'));

  function expectNothingWritten(fn: () => unknown, cls: ErrorClass): void {
    const before = writeLog();
    const m = store.metrics();
    expect(fn).to.throw(cls);
    expect(writeLog().equals(before), 'write log unchanged').to.equal(true);
    expect(store.metrics().opsInFlight).to.equal(m.opsInFlight);
  }

  for (const [what, key] of badKeys) {
    it(`key ${what} → InvalidKeyError from ticker get/put/delete; promise forms reject`, async () => {
      const t = store.ticker();
      expectNothingWritten(() => t.get(key as string), InvalidKeyError);
      expectNothingWritten(() => t.put(key as string, bytes('v')), InvalidKeyError);
      expectNothingWritten(() => t.delete(key as string), InvalidKeyError);
      for (const p of [store.get(key as string), store.put(key as string, bytes('v')), store.delete(key as string)]) {
        let caught: unknown;
        try { await p; } catch (e) { caught = e; }
        expect(caught).to.be.instanceOf(InvalidKeyError);
      }
    });
  }

  for (const [what, value] of badValues) {
    it(`value ${what} → InvalidValueError`, async () => {
      const t = store.ticker();
      expectNothingWritten(() => t.put('k', value as Uint8Array), InvalidValueError);
      let caught: unknown;
      try { await store.put('k', value as Uint8Array); } catch (e) { caught = e; }
      expect(caught).to.be.instanceOf(InvalidValueError);
    });
  }

  it('keys at the maximum length and values at the maximum size are accepted', async () => {
    const key = 'k'.repeat(MAX_KEY_BYTES);
    await store.put(key, bytes('edge'));
    const big = new Uint8Array(MAX_VALUE_BYTES).fill(7);
    await store.put('big', big);
    expect((await store.get('big'))!.length).to.equal(MAX_VALUE_BYTES);
    expect((await store.get(key))!.length).to.equal(4);
  });

  const badConfigs: [string, object][] = [
    ['syncMode', { syncMode: 'sometimes' }], ['writePolicy', { writePolicy: 'ignore' }],
    ['memcacheCapacity negative', { memcacheCapacity: -1 }], ['memcacheCapacity fractional', { memcacheCapacity: 1.5 }],
    ['memcacheMaxBytes 0', { memcacheMaxBytes: 0 }], ['compactRatio 0', { compactRatio: 0 }],
    ['compactRatio > 1', { compactRatio: 1.5 }], ['compactRatio NaN', { compactRatio: NaN }],
    ['compactMinBytes negative', { compactMinBytes: -5 }], ['syncIntervalMs 0', { syncIntervalMs: 0 }],
    ['an unknown option', { compactionRatio: 0.5 }], ['a string number', { memcacheCapacity: '10' }], ['an unknown backend', { backend: 'sqlite' }],
  ];
  for (const [what, cfg] of badConfigs) {
    it(`config ${what} → InvalidConfigError from openStore and configure, nothing changed`, async () => {
      let caught: unknown;
      try { await openStore({ dir: tmpDir(), ...cfg }); } catch (e) { caught = e; }
      expect(caught).to.be.instanceOf(InvalidConfigError);
      const before = store.options;
      caught = undefined;
      try { await store.configure(cfg); } catch (e) { caught = e; }
      expect(caught, 'configure rejects').to.be.instanceOf(InvalidConfigError);
      expect(store.options).to.deep.equal(before);
    });
  }

  it('openStore without a usable dir, and configure({ dir }), → InvalidConfigError', async () => {
    for (const o of [undefined, {}, { dir: '' }, { dir: 5 }, { dir: 'a\0b' }]) {
      let caught: unknown;
      try { await openStore(o as never); } catch (e) { caught = e; }
      expect(caught, JSON.stringify(o)).to.be.instanceOf(InvalidConfigError);
    }
    let refused: unknown;
    try { await store.configure({ dir: '/elsewhere' } as never); } catch (e) { refused = e; }
    expect(refused).to.be.instanceOf(InvalidConfigError).and.to.have.property('message').that.matches(/fixed/);
  });

  it('memcacheCapacity 0 means the default', async () => {
    const s = await openStore({ dir: tmpDir(), memcacheCapacity: 0 });
    expect(s.options.memcacheCapacity).to.equal(4096);
    await s.close();
  });
});

describe('use after close', () => {
  it('every call throws (or rejects with) StoreClosedError; in-flight ops still complete', async () => {
    const dir = tmpDir();
    const s = await openStore({ dir });
    const t = s.ticker();
    t.put('a', bytes('1'));
    const closing = s.close();
    expect(() => t.get('a')).to.throw(StoreClosedError);
    expect(() => t.put('a', bytes('2'))).to.throw(StoreClosedError);
    expect(() => t.delete('a')).to.throw(StoreClosedError);
    expect(() => s.ticker()).to.throw(StoreClosedError);
    for (const p of [s.get('a'), s.put('a', bytes('1')), s.delete('a'), s.configure({}), s.compact()]) {
      let caught: unknown;
      try { await p; } catch (e) { caught = e; }
      expect(caught).to.be.instanceOf(StoreClosedError);
    }
    const [r] = await tickFor(t, 1);
    expect(r).to.include({ op: 'put', ok: true });
    await closing;
    await s.close(); // idempotent
    const again = await openStore({ dir }); // the directory was released
    expect(await again.get('a')).to.deep.equal(bytes('1'));
    await again.close();
  });
});
