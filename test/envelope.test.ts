/**
 * The record envelope (issue 13 §8, docs/records.md): its bytes, JSON and
 * MessagePack records across version bumps with migrations, rollbacks,
 * garbled and truncated records, records written before the envelope, codec
 * validation, and what the envelope costs (printed).
 */
import { expect } from 'chai';
import { crc32 } from 'node:zlib';
import { schema, t } from '@colyseus/schema';
import {
  ENVELOPE_HEADER_BYTES, InvalidArgumentError, InvalidValueError, SchemaMismatchError, decodeRecord, encodeRecord, fingerprintOf,
  jsonCodec, msgpackCodec, schemaCodec, type Codec, type SchemaMismatchReason,
} from '../plugin.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Runs `fn`, expecting a SchemaMismatchError for `reason`; returns it. */
function mismatch(fn: () => unknown, reason: SchemaMismatchReason): SchemaMismatchError {
  let caught: unknown;
  try { fn(); } catch (err) { caught = err; }
  expect(caught, 'a SchemaMismatchError').to.be.instanceOf(SchemaMismatchError);
  const e = caught as SchemaMismatchError;
  expect(e.code).to.equal('SCHEMA_MISMATCH');
  expect(e.reason, e.message).to.equal(reason);
  return e;
}

function throwsTyped(fn: () => unknown, type: new (...a: never[]) => Error): Error {
  let caught: unknown;
  try { fn(); } catch (err) { caught = err; }
  expect(caught).to.be.instanceOf(type);
  return caught as Error;
}

interface ProfileV1 { name: string }
interface ProfileV2 { name: string; level: number }
interface ProfileV3 { name: string; level: number; title: string }

describe('record envelope', () => {
  describe('bytes', () => {
    it('is magic C1 54, format 1, kind, u16 LE version, 8-byte fingerprint, CRC-32 of header and payload, then the codec bytes', () => {
      const codec = jsonCodec<ProfileV1>({ version: 258 });
      const b = encodeRecord(codec, { name: 'ann' });
      const payload = utf8('{"name":"ann"}');
      expect(b.length).to.equal(ENVELOPE_HEADER_BYTES + payload.length);
      expect([...b.subarray(0, 6)]).to.deep.equal([0xc1, 0x54, 1, 1, 2, 1]); // json = 1, version 258 = 0x0102 LE
      expect([...b.subarray(6, 14)]).to.deep.equal([0, 0, 0, 0, 0, 0, 0, 0]); // JSON has no fingerprint
      const crc = crc32(Buffer.concat([b.subarray(0, 14), payload]));
      expect(Buffer.from(b.subarray(14, 18)).readUInt32LE(0)).to.equal(crc);
      expect([...b.subarray(18)]).to.deep.equal([...payload]);
      expect(decodeRecord(codec, b)).to.deep.equal({ name: 'ann' });
    });

    it('kinds: msgpack 2, schema 3 with the class fingerprint, custom 0 with its own', () => {
      expect(encodeRecord(msgpackCodec<number>(), 5)[3]).to.equal(2);
      const Bag = schema({ gold: t.uint32() }, 'EnvBag');
      const sc = schemaCodec(Bag);
      const sb = encodeRecord(sc, new Bag());
      expect(sb[3]).to.equal(3);
      expect(Buffer.from(sb.subarray(6, 14)).toString('hex')).to.equal(sc.fingerprint).and.to.match(/^[0-9a-f]{16}$/);
      const fp = fingerprintOf('my shape v1');
      const custom: Codec<Uint8Array> = { encode: (v) => v, decode: (b) => b.slice(), fingerprint: fp };
      const cb = encodeRecord(custom, utf8('raw'));
      expect(cb[3]).to.equal(0);
      expect(Buffer.from(cb.subarray(6, 14)).toString('hex')).to.equal(fp);
      expect([...decodeRecord(custom, cb)]).to.deep.equal([...utf8('raw')]);
    });
  });

  describe('JSON and MessagePack versions', () => {
    const v1 = jsonCodec<ProfileV1>();
    const v2 = jsonCodec<ProfileV2>({ version: 2, migrations: { 2: (old) => ({ ...(old as ProfileV1), level: 1 }) } });
    const v3 = jsonCodec<ProfileV3>({
      version: 3,
      migrations: {
        2: (old) => ({ ...(old as ProfileV1), level: 1 }),
        3: { migrate: (old: ProfileV2) => ({ ...old, title: old.level > 5 ? 'veteran' : 'novice' }) },
      },
    });

    it('a version 1 record read by version 2 is migrated; a version 2 record decodes as is', () => {
      expect(decodeRecord(v2, encodeRecord(v1, { name: 'ann' }))).to.deep.equal({ name: 'ann', level: 1 });
      expect(decodeRecord(v2, encodeRecord(v2, { name: 'bo', level: 9 }))).to.deep.equal({ name: 'bo', level: 9 });
    });

    it('migrations chain: 1 → 2 → 3, and 2 → 3', () => {
      expect(decodeRecord(v3, encodeRecord(v1, { name: 'ann' }))).to.deep.equal({ name: 'ann', level: 1, title: 'novice' });
      expect(decodeRecord(v3, encodeRecord(v2, { name: 'bo', level: 9 }))).to.deep.equal({ name: 'bo', level: 9, title: 'veteran' });
    });

    it('MessagePack: version bump with chained migrations, keeping a Set and a Date', () => {
      const m1 = msgpackCodec<{ seen: Set<string> }>();
      const m3 = msgpackCodec<{ seen: Set<string>; total: number; at: Date }>({
        version: 3,
        migrations: {
          2: (old) => { const o = old as { seen: Set<string> }; return { ...o, total: o.seen.size }; },
          3: (old) => ({ ...(old as object), at: new Date(0) }),
        },
      });
      const got = decodeRecord(m3, encodeRecord(m1, { seen: new Set(['a', 'b']) }));
      expect(got.seen).to.be.instanceOf(Set);
      expect(got.total).to.equal(2);
      expect(got.at.getTime()).to.equal(0);
    });

    it('a rollback (a record of a newer version than the code knows) is refused, never decoded', () => {
      const e = mismatch(() => decodeRecord(v2, encodeRecord(v3, { name: 'c', level: 2, title: 'x' }), 'player:7'), 'newer-version');
      expect(e.storedVersion).to.equal(3);
      expect(e.expectedVersion).to.equal(2);
      expect(e.key).to.equal('player:7');
      expect(e.message).to.contain('"player:7"').and.contain('stored v3').and.contain('expected v2');
    });

    it('an older version without a migration path is refused', () => {
      const gap = jsonCodec<ProfileV3>({ version: 3, migrations: { 3: (old) => old } });
      mismatch(() => decodeRecord(gap, encodeRecord(v1, { name: 'ann' })), 'no-migration');
      mismatch(() => decodeRecord(jsonCodec({ version: 2 }), encodeRecord(v1, { name: 'ann' })), 'no-migration');
    });

    it('another codec kind is refused (JSON read as MessagePack, MessagePack as JSON, either as a custom codec)', () => {
      mismatch(() => decodeRecord(msgpackCodec(), encodeRecord(v1, { name: 'ann' })), 'codec-kind');
      mismatch(() => decodeRecord(v1, encodeRecord(msgpackCodec(), { name: 'ann' })), 'codec-kind');
      mismatch(() => decodeRecord({ encode: (v: Uint8Array) => v, decode: (b) => b }, encodeRecord(v1, { name: 'ann' })), 'codec-kind');
    });

    it('a custom codec\'s fingerprint must match at the same version', () => {
      const a: Codec<string> = { encode: (s) => utf8(s), decode: (b) => new TextDecoder().decode(b), fingerprint: fingerprintOf('a') };
      const b: Codec<string> = { ...a, fingerprint: fingerprintOf('b') };
      const e = mismatch(() => decodeRecord(b, encodeRecord(a, 'x')), 'fingerprint');
      expect(e.storedFingerprint).to.equal(fingerprintOf('a'));
      expect(e.expectedFingerprint).to.equal(fingerprintOf('b'));
    });

    it('a migration that throws is a typed error carrying the cause', () => {
      const bad = jsonCodec<ProfileV2>({ version: 2, migrations: { 2: () => { throw new RangeError('no level for you'); } } });
      const e = mismatch(() => decodeRecord(bad, encodeRecord(v1, { name: 'ann' })), 'migration-failed');
      expect(e.cause).to.be.instanceOf(RangeError);
    });
  });

  describe('garbled and truncated records', () => {
    const codec = jsonCodec<{ gold: number }>();
    const good = encodeRecord(codec, { gold: 1000 });

    it('a flipped payload byte fails the checksum (JSON would still parse: {"gold":1001})', () => {
      const b = good.slice();
      b[b.length - 2] = '1'.charCodeAt(0); // ...1000} → ...1001}
      expect(JSON.parse(new TextDecoder().decode(b.subarray(ENVELOPE_HEADER_BYTES)))).to.deep.equal({ gold: 1001 });
      mismatch(() => decodeRecord(codec, b), 'garbled');
    });

    it('a flipped header byte (the version) fails the checksum', () => {
      const b = good.slice();
      b[4] = 2;
      mismatch(() => decodeRecord(jsonCodec({ version: 2, migrations: { 2: (o) => o } }), b), 'garbled');
    });

    it('truncated anywhere: every prefix is refused, none decodes', () => {
      for (let n = 2; n < good.length; n++) mismatch(() => decodeRecord(codec, good.subarray(0, n)), 'garbled');
    });

    it('an unknown envelope format is refused', () => {
      const b = good.slice();
      b[2] = 2;
      expect(mismatch(() => decodeRecord(codec, b), 'garbled').message).to.contain('format 2');
    });

    it('a payload that does not decode is a typed error (envelope fine, bytes not JSON)', () => {
      const liar: Codec<{ gold: number }> = { kind: 'json', encode: () => utf8('{"gold":'), decode: codec.decode };
      mismatch(() => decodeRecord(codec, encodeRecord(liar, { gold: 1 })), 'decode-failed');
    });
  });

  describe('records written before the envelope (no magic)', () => {
    it('JSON and MessagePack: taken as version 1, and migrated from it', () => {
      const legacyJson = utf8('{"name":"old"}');
      expect(decodeRecord(jsonCodec<ProfileV1>(), legacyJson)).to.deep.equal({ name: 'old' });
      const v2 = jsonCodec<ProfileV2>({ version: 2, migrations: { 2: (old) => ({ ...(old as ProfileV1), level: 0 }) } });
      expect(decodeRecord(v2, legacyJson)).to.deep.equal({ name: 'old', level: 0 });
      const legacyPack = msgpackCodec<number>().encode(42);
      expect(legacyPack[0]).to.not.equal(0xc1); // 0xC1 is never used by MessagePack: no legacy record looks like an envelope
      expect(decodeRecord(msgpackCodec<number>(), legacyPack)).to.equal(42);
    });

    it('legacy bytes that are not JSON are a typed error, not a crash', () => {
      mismatch(() => decodeRecord(jsonCodec(), utf8('not json')), 'decode-failed');
      mismatch(() => decodeRecord(jsonCodec(), new Uint8Array([0xff, 0xfe, 0x7b])), 'decode-failed'); // not UTF-8
    });

    it('legacyVersion: false refuses them', () => {
      mismatch(() => decodeRecord(jsonCodec({ legacyVersion: false }), utf8('{}')), 'legacy');
    });

    it('schema: refused by default (schema bytes read with another definition are silently wrong); accepted when legacyVersion names the version', () => {
      const Bag = schema({ gold: t.uint32() }, 'EnvLegacyBag');
      const plain = new Bag();
      plain.gold = 7;
      const legacy = schemaCodec(Bag).encode(plain);
      mismatch(() => decodeRecord(schemaCodec(Bag), legacy), 'legacy');
      expect(decodeRecord(schemaCodec(Bag, { legacyVersion: 1 }), legacy).gold).to.equal(7);
    });

    it('a custom codec without legacyVersion refuses them', () => {
      mismatch(() => decodeRecord({ encode: (v: Uint8Array) => v, decode: (b) => b }, utf8('raw')), 'legacy');
      expect([...decodeRecord({ encode: (v: Uint8Array) => v, decode: (b) => b, legacyVersion: 1 }, utf8('raw'))]).to.deep.equal([...utf8('raw')]);
    });
  });

  describe('validation', () => {
    it('encodeRecord: a codec whose encode does not return a Uint8Array is an InvalidValueError', () => {
      throwsTyped(() => encodeRecord({ encode: () => 'text' as unknown as Uint8Array, decode: () => 'x' }, 'x'), InvalidValueError);
      throwsTyped(() => encodeRecord({ encode: () => [1, 2] as unknown as Uint8Array, decode: () => 'x' }, 'x'), InvalidValueError);
    });

    it('encodeRecord / decodeRecord: not a codec, bad metadata, bad bytes or key are typed errors', () => {
      throwsTyped(() => encodeRecord(null as unknown as Codec<number>, 1), InvalidArgumentError);
      throwsTyped(() => encodeRecord({ encode: (v: number) => new Uint8Array([v]), decode: () => 1, version: 0 }, 1), InvalidArgumentError);
      throwsTyped(() => encodeRecord({ encode: (v: number) => new Uint8Array([v]), decode: () => 1, version: 70_000 }, 1), InvalidArgumentError);
      throwsTyped(() => encodeRecord({ encode: (v: number) => new Uint8Array([v]), decode: () => 1, fingerprint: 'abc' }, 1), InvalidArgumentError);
      throwsTyped(() => encodeRecord({ encode: (v: number) => new Uint8Array([v]), decode: () => 1, kind: 'xml' as never }, 1), InvalidArgumentError);
      throwsTyped(() => decodeRecord(jsonCodec(), 'bytes' as unknown as Uint8Array), InvalidValueError);
      throwsTyped(() => decodeRecord(jsonCodec(), utf8('{}'), 5 as unknown as string), InvalidArgumentError);
    });

    it('codec factories check their options at the call', () => {
      const Bag = schema({ gold: t.uint32() }, 'EnvOptBag');
      throwsTyped(() => jsonCodec({ version: 1.5 }), InvalidArgumentError);
      throwsTyped(() => jsonCodec({ verison: 2 } as never), InvalidArgumentError);
      throwsTyped(() => jsonCodec({ version: 2, migrations: { 1: (o) => o } }), InvalidArgumentError); // keyed by the version produced: 2..
      throwsTyped(() => jsonCodec({ version: 2, migrations: { 3: (o) => o } }), InvalidArgumentError); // past the version
      throwsTyped(() => msgpackCodec({ version: 2, migrations: { 2: 'up' as never } }), InvalidArgumentError);
      throwsTyped(() => jsonCodec({ version: 2, legacyVersion: 3 }), InvalidArgumentError);
      throwsTyped(() => schemaCodec(Bag, { version: 2, migrations: { 2: (o) => o } }), InvalidArgumentError); // schema steps name `from`
      throwsTyped(() => schemaCodec(Bag, { version: 2, migrations: { 2: { from: Object as never, migrate: (o) => o } } }), InvalidArgumentError);
      throwsTyped(() => schemaCodec({} as never), InvalidArgumentError);
    });
  });

  it('overhead: bytes per record and encode/decode time against the plain codec (printed)', function () {
    this.timeout(120_000);
    const Item = schema({ name: t.string(), qty: t.uint16() }, 'EnvBenchItem');
    const Inv = schema({ gold: t.uint32(), xp: t.uint32(), items: t.array(Item) }, 'EnvBenchInv');
    const inv = new Inv();
    inv.gold = 1234; inv.xp = 99;
    for (let i = 0; i < 5; i++) { const it = new Item(); it.name = `item${i}`; it.qty = i; inv.items.push(it); }
    const cases: [string, Codec<unknown>, unknown][] = [
      ['json', jsonCodec(), { name: 'ann', gold: 1234, items: ['sword', 'shield'] }],
      ['msgpack', msgpackCodec(), { name: 'ann', gold: 1234, items: ['sword', 'shield'] }],
      ['schema', schemaCodec(Inv) as Codec<unknown>, inv],
    ];
    const time = (n: number, fn: () => void): number => {
      for (let i = 0; i < Math.min(n, 2000); i++) fn(); // warm up
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) fn();
      return Number(process.hrtime.bigint() - t0) / n / 1000;
    };
    const rows: string[] = [];
    for (const [name, codec, value] of cases) {
      const plain = codec.encode(value);
      const wrapped = encodeRecord(codec, value);
      expect(wrapped.length - plain.length).to.equal(ENVELOPE_HEADER_BYTES);
      const n = name === 'schema' ? 5_000 : 50_000;
      const encPlain = time(n, () => codec.encode(value));
      const encEnv = time(n, () => encodeRecord(codec, value));
      const decPlain = time(n, () => codec.decode(plain));
      const decEnv = time(n, () => decodeRecord(codec, wrapped));
      rows.push(`${name.padEnd(8)} ${String(plain.length).padStart(4)} B → ${String(wrapped.length).padStart(4)} B (+${wrapped.length - plain.length})  `
        + `encode ${encPlain.toFixed(2)} → ${encEnv.toFixed(2)} µs  decode ${decPlain.toFixed(2)} → ${decEnv.toFixed(2)} µs`);
    }
    console.log(`      envelope overhead (plain → enveloped):\n${rows.map((r) => `        ${r}`).join('\n')}`);
  });
});
