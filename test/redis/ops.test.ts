import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { Backend } from '../../src/backend.js';
import { NO_WRITE_FLAGS } from '../../src/backend.js';
import { buildKey, keyPrefix } from '../../src/buildKey.js';
import { InvalidConfigError, StoreClosedError, StoreUnavailableError } from '../../src/errors.js';
import { redisBackend } from '../../src/engines/redis/index.js';
import { RedisServer, freePort, requireRedis } from '../support/redisServer.js';
import { bytes, call, freshPrefix, ok, openRedis, text } from './ops.js';

describe('redis engine: ops', function () {
  let server: RedisServer;
  let b: Backend;
  let prefix: string;
  let raw: Redis;

  before(async function () {
    requireRedis(this);
    server = await RedisServer.start();
    raw = new Redis(server.url);
  });
  after(async () => {
    raw?.disconnect();
    await server?.destroy();
  });
  beforeEach(async function () {
    if (!server) this.skip();
    prefix = freshPrefix();
    b = await openRedis({ url: server.url, prefix });
  });
  afterEach(async () => { await b?.close(); });

  const k1 = buildKey(1, 42n, [7]);
  const k2 = buildKey(2, 42n, [7]);

  it('reports its manifest', () => {
    expect(b.supports).to.deep.equal({ permanence: true, ttl: true, sharedAcrossProcesses: true, fencing: true, globalOrder: false });
    expect(b.failure).to.equal(undefined);
    expect(b.stats().scrub.state).to.equal('idle');
  });

  it('put / get / exists / delete, with versions that only grow', async () => {
    expect(await ok((d) => b.get(k1, d))).to.deep.include({ found: false });
    expect((await ok((d) => b.exists(k1, d))).found).to.equal(false);
    const p1 = await ok((d) => b.put(k1, bytes('a'), NO_WRITE_FLAGS, d));
    expect(p1.found).to.equal(true);
    const g = await ok((d) => b.get(k1, d));
    expect(g.found).to.equal(true);
    expect(text(g.value)).to.equal('a');
    const e1 = await ok((d) => b.exists(k1, d));
    expect(e1.found).to.equal(true);
    expect(e1.version).to.be.a('number').above(0);
    await ok((d) => b.put(k1, bytes('b'), NO_WRITE_FLAGS, d));
    const e2 = await ok((d) => b.exists(k1, d));
    expect(e2.version).to.be.above(e1.version!);
    expect((await ok((d) => b.delete(k1, NO_WRITE_FLAGS, d))).found).to.equal(true);
    expect((await ok((d) => b.delete(k1, NO_WRITE_FLAGS, d))).found).to.equal(false);
    expect((await ok((d) => b.get(k1, d))).found).to.equal(false);
    // Recreated: a version above every earlier one (no ABA).
    await ok((d) => b.put(k1, bytes('c'), NO_WRITE_FLAGS, d));
    expect((await ok((d) => b.exists(k1, d))).version).to.be.above(e2.version!);
  });

  it('stores an empty value as a value, and binary bytes exactly', async () => {
    await ok((d) => b.put(k1, new Uint8Array(0), NO_WRITE_FLAGS, d));
    const g = await ok((d) => b.get(k1, d));
    expect(g.found).to.equal(true);
    expect(g.value!.length).to.equal(0);
    const bin = new Uint8Array(256).map((_, i) => i);
    // A view into a larger buffer: only its own bytes are stored.
    const big = new Uint8Array(300);
    big.set(bin, 20);
    await ok((d) => b.put(k2, big.subarray(20, 276), NO_WRITE_FLAGS, d));
    expect(Buffer.from((await ok((d) => b.get(k2, d))).value!).equals(Buffer.from(bin))).to.equal(true);
    // A world key, with spaces and non-ASCII.
    await ok((d) => b.put('world config é ✓', bytes('w'), NO_WRITE_FLAGS, d));
    expect(text((await ok((d) => b.get('world config é ✓', d))).value)).to.equal('w');
  });

  it('putIf: absent, version, exact value (and value undefined = absent)', async () => {
    const a1 = await ok((d) => b.putIf(k1, bytes('x'), { absent: true }, NO_WRITE_FLAGS, d));
    expect(a1.found).to.equal(true);
    expect(a1.version).to.be.above(0);
    const a2 = await ok((d) => b.putIf(k1, bytes('y'), { absent: true }, NO_WRITE_FLAGS, d));
    expect(a2.found).to.equal(false);
    expect(a2.version).to.equal(a1.version);
    const v1 = await ok((d) => b.putIf(k1, bytes('y'), { version: a1.version! }, NO_WRITE_FLAGS, d));
    expect(v1.found).to.equal(true);
    expect(v1.version).to.be.above(a1.version!);
    const v2 = await ok((d) => b.putIf(k1, bytes('z'), { version: a1.version! }, NO_WRITE_FLAGS, d));
    expect(v2).to.deep.include({ found: false, version: v1.version });
    const x1 = await ok((d) => b.putIf(k1, bytes('z'), { value: bytes('y') }, NO_WRITE_FLAGS, d));
    expect(x1.found).to.equal(true);
    expect((await ok((d) => b.putIf(k1, bytes('q'), { value: bytes('y') }, NO_WRITE_FLAGS, d))).found).to.equal(false);
    expect((await ok((d) => b.putIf(k1, bytes('q'), { value: undefined }, NO_WRITE_FLAGS, d))).found).to.equal(false);
    expect((await ok((d) => b.putIf(k2, bytes('q'), { value: undefined }, NO_WRITE_FLAGS, d))).found).to.equal(true);
    // A version condition on an absent key fails, with no version.
    const miss = await ok((d) => b.putIf(buildKey(3, 42n), bytes('q'), { version: 5 }, NO_WRITE_FLAGS, d));
    expect(miss.found).to.equal(false);
    expect(miss.version ?? 0).to.equal(0);
    expect(text((await ok((d) => b.get(k1, d))).value)).to.equal('z');
  });

  it('batch: applies every op of one player across funcIds, and world keys in standalone mode', async () => {
    await ok((d) => b.put(k2, bytes('old'), NO_WRITE_FLAGS, d));
    await ok((d) => b.batch([
      { type: 'put', key: k1, value: bytes('1') },
      { type: 'delete', key: k2 },
      { type: 'put', key: 'world', value: bytes('w') },
      { type: 'put', key: buildKey(1, 43n), value: bytes('other player') },
    ], NO_WRITE_FLAGS, d));
    expect(text((await ok((d) => b.get(k1, d))).value)).to.equal('1');
    expect((await ok((d) => b.get(k2, d))).found).to.equal(false);
    expect(text((await ok((d) => b.get('world', d))).value)).to.equal('w');
    expect(text((await ok((d) => b.get(buildKey(1, 43n), d))).value)).to.equal('other player');
  });

  it('txRead validates the read set; txCommit commits only if nothing read changed', async () => {
    await ok((d) => b.put(k1, bytes('a'), NO_WRITE_FLAGS, d));
    const r1 = await ok((d) => b.txRead(k1, new Map(), d));
    expect(r1.found).to.equal(true);
    expect(text(r1.value)).to.equal('a');
    const r2 = await ok((d) => b.txRead(k2, new Map([[k1, r1.version!]]), d));
    expect(r2).to.deep.include({ found: false, version: 0 });
    expect(r2.stale ?? false).to.equal(false);
    // A key read as absent (0) that now exists is stale, as is a changed version.
    await ok((d) => b.put(k2, bytes('b'), NO_WRITE_FLAGS, d));
    expect((await ok((d) => b.txRead(k1, new Map([[k2, 0]]), d))).stale).to.equal(true);
    await ok((d) => b.put(k1, bytes('a2'), NO_WRITE_FLAGS, d));
    expect((await ok((d) => b.txRead(k2, new Map([[k1, r1.version!]]), d))).stale).to.equal(true);

    const cur = (await ok((d) => b.exists(k1, d))).version!;
    const stale = await ok((d) => b.txCommit(new Map([[k1, r1.version!]]), [{ type: 'put', key: k2, value: bytes('lost') }], d));
    expect(stale.found).to.equal(false);
    expect(text((await ok((d) => b.get(k2, d))).value)).to.equal('b');
    const good = await ok((d) => b.txCommit(new Map([[k1, cur], [buildKey(9, 42n), 0]]), [
      { type: 'put', key: k2, value: bytes('won') }, { type: 'delete', key: k1 },
    ], d));
    expect(good.found).to.equal(true);
    expect(text((await ok((d) => b.get(k2, d))).value)).to.equal('won');
    expect((await ok((d) => b.get(k1, d))).found).to.equal(false);
  });

  it('TTL: an expired key reads as absent; a put without a deadline persists it', async () => {
    await ok((d) => b.put(k1, bytes('short'), { deadline: Date.now() + 150 }, d));
    await ok((d) => b.put(k2, bytes('kept'), { deadline: Date.now() + 150 }, d));
    await ok((d) => b.put(k2, bytes('kept'), NO_WRITE_FLAGS, d)); // PERSIST
    expect((await ok((d) => b.get(k1, d))).found).to.equal(true);
    expect(await raw.pttl(`${prefix}:{000000000000002a}:d:${k1}`)).to.be.above(0);
    expect(await raw.pttl(`${prefix}:{000000000000002a}:d:${k2}`)).to.equal(-1);
    await new Promise((r) => setTimeout(r, 250));
    expect((await ok((d) => b.get(k1, d))).found).to.equal(false);
    expect((await ok((d) => b.exists(k1, d))).found).to.equal(false);
    expect((await ok((d) => b.putIf(k1, bytes('again'), { absent: true }, NO_WRITE_FLAGS, d))).found).to.equal(true);
    expect(text((await ok((d) => b.get(k2, d))).value)).to.equal('kept');
  });

  it('delivers replies in submission order, never synchronously', async () => {
    const order: number[] = [];
    let sync = true;
    const all: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      all.push(new Promise((resolve) => {
        const done = (): void => { expect(sync).to.equal(false); order.push(i); resolve(); };
        if (i % 3 === 0) b.put(buildKey(1, BigInt(i % 7)), bytes(String(i)), NO_WRITE_FLAGS, done);
        else if (i % 3 === 1) b.get(buildKey(1, BigInt(i % 7)), done);
        else b.scan({ prefix: keyPrefix(1, BigInt(i % 7)), limit: 5, reverse: false }, done);
      }));
    }
    expect(b.inFlight).to.equal(200);
    sync = false;
    await Promise.all(all);
    expect(order).to.deep.equal([...Array(200).keys()]);
    expect(b.inFlight).to.equal(0);
    expect((await ok((d) => b.flush(d))).found).to.equal(true);
  });

  it('close waits for in-flight ops; ops after close throw StoreClosedError', async () => {
    let replied = false;
    b.put(k1, bytes('v'), NO_WRITE_FLAGS, (_r, e) => { expect(e).to.equal(undefined); replied = true; });
    await b.close();
    expect(replied).to.equal(true);
    expect(() => b.get(k1, () => {})).to.throw(StoreClosedError);
    const again = await openRedis({ url: server.url, prefix });
    expect(text((await ok((d) => again.get(k1, d))).value)).to.equal('v');
    await again.close();
  });

  it('leaves a client it was given open', async () => {
    const client = new Redis(server.url, { enableAutoPipelining: true });
    const mine = await openRedis({ client, prefix });
    await ok((d) => mine.put(k1, bytes('c'), NO_WRITE_FLAGS, d));
    await mine.close();
    expect(client.status).to.equal('ready');
    expect(await client.ping()).to.equal('PONG');
    client.disconnect();
  });

  it('refuses bad options with InvalidConfigError', () => {
    expect(() => redisBackend({ prefx: 'x' } as never)).to.throw(InvalidConfigError, /did you mean "prefix"/);
    expect(() => redisBackend({ prefix: 'a{b' })).to.throw(InvalidConfigError);
    expect(() => redisBackend({ prefix: '' })).to.throw(InvalidConfigError);
    expect(() => redisBackend({ commandTimeoutMs: 0 })).to.throw(InvalidConfigError);
    expect(() => redisBackend({ waitReplicas: 1.5 })).to.throw(InvalidConfigError);
    expect(() => redisBackend({ client: {} as never })).to.throw(InvalidConfigError);
    expect(() => redisBackend({ url: 5 as never })).to.throw(InvalidConfigError);
    expect(() => redisBackend(null as never)).to.throw(InvalidConfigError);
  });

  it('open rejects with StoreUnavailableError when Redis is unreachable', async () => {
    const port = await freePort();
    const started = Date.now();
    let err: unknown;
    try { await openRedis({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300 }); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(StoreUnavailableError);
    expect(Date.now() - started).to.be.below(10_000);
  });

  it('a put of a plain Uint8Array, a reply error is a typed error', async () => {
    // A foreign value of the wrong type under our prefix: Redis answers WRONGTYPE, which is a typed, not-applied error.
    await raw.set(`${prefix}:{000000000000002a}:d:${k1}`, 'not a hash');
    const { error } = await call((d) => b.get(k1, d));
    expect(error?.code).to.equal('IO_ERROR');
    expect(error?.message).to.match(/WRONGTYPE/);
  });
});
