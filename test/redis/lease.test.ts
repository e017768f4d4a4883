import { expect } from 'chai';
import type { Backend } from '../../src/backend.js';
import { NO_WRITE_FLAGS } from '../../src/backend.js';
import { buildKey, keyPrefix } from '../../src/buildKey.js';
import { LeaseLostError } from '../../src/errors.js';
import { RedisServer, requireRedis } from '../support/redisServer.js';
import { bytes, call, freshPrefix, ok, openRedis, text } from './ops.js';

describe('redis engine: leases and fenced writes', function () {
  let server: RedisServer;
  let a: Backend;
  let b: Backend;

  before(async function () {
    requireRedis(this);
    server = await RedisServer.start();
  });
  after(async () => { await server?.destroy(); });
  beforeEach(async function () {
    if (!server) this.skip();
    const prefix = freshPrefix();
    a = await openRedis({ url: server.url, prefix });
    b = await openRedis({ url: server.url, prefix });
  });
  afterEach(async () => {
    await a?.close();
    await b?.close();
  });

  const scope = keyPrefix(1, 42n);
  const key = buildKey(1, 42n, [1n]);

  it('acquire / held / renew / release, tokens strictly increasing, expiry by the server clock', async () => {
    const before = Date.now();
    const l1 = await ok((d) => a.leaseAcquire(scope, 5000, d));
    expect(l1.found).to.equal(true);
    expect(l1.version).to.be.a('number').above(0);
    expect(l1.expiresAt).to.be.within(before + 4000, Date.now() + 6000);
    const held = await ok((d) => b.leaseAcquire(scope, 5000, d));
    expect(held.found).to.equal(false);
    expect(held.expiresAt).to.equal(l1.expiresAt);
    const r = await ok((d) => a.leaseRenew(scope, l1.version!, 8000, d));
    expect(r.found).to.equal(true);
    expect(r.version).to.equal(l1.version);
    expect(r.expiresAt).to.be.above(l1.expiresAt!);
    expect((await ok((d) => b.leaseRenew(scope, l1.version! + 1, 8000, d))).found).to.equal(false);
    expect((await ok((d) => b.leaseRelease(scope, l1.version! + 1, d))).found).to.equal(false);
    expect((await ok((d) => a.leaseRelease(scope, l1.version!, d))).found).to.equal(true);
    expect((await ok((d) => a.leaseRelease(scope, l1.version!, d))).found).to.equal(false);
    const l2 = await ok((d) => b.leaseAcquire(scope, 5000, d));
    expect(l2.found).to.equal(true);
    expect(l2.version).to.be.above(l1.version!);
    // A world scope works the same way.
    const w = await ok((d) => a.leaseAcquire('world-lock', 5000, d));
    expect(w.found).to.equal(true);
  });

  it('a fenced write applies only while its lease is current', async () => {
    const l1 = await ok((d) => a.leaseAcquire(scope, 200, d));
    const fence = { scope, token: l1.version! };
    await ok((d) => a.put(key, bytes('one'), { fence }, d));
    await ok((d) => a.batch([{ type: 'put', key: buildKey(2, 42n), value: bytes('inv') }], { fence }, d));
    const cur = (await ok((d) => a.exists(key, d))).version!;
    expect((await ok((d) => a.putIf(key, bytes('two'), { version: cur }, { fence }, d))).found).to.equal(true);

    // Lapsed: refused, nothing written.
    await new Promise((r) => setTimeout(r, 300));
    const lapsed = await call((d) => a.put(key, bytes('late'), { fence }, d));
    expect(lapsed.error).to.be.instanceOf(LeaseLostError);
    expect((lapsed.error as LeaseLostError).scope).to.equal(scope);
    expect(text((await ok((d) => a.get(key, d))).value)).to.equal('two');

    // Taken over by another holder: the old token's writes are refused, the new one's apply.
    const l2 = await ok((d) => b.leaseAcquire(scope, 5000, d));
    expect(l2.version).to.be.above(l1.version!);
    expect((await call((d) => a.delete(key, { fence }, d))).error).to.be.instanceOf(LeaseLostError);
    expect((await call((d) => a.batch([{ type: 'delete', key }], { fence }, d))).error).to.be.instanceOf(LeaseLostError);
    expect(text((await ok((d) => a.get(key, d))).value)).to.equal('two');
    await ok((d) => b.put(key, bytes('three'), { fence: { scope, token: l2.version! } }, d));
    expect(text((await ok((d) => a.get(key, d))).value)).to.equal('three');
    // Unfenced writes are not affected by leases.
    await ok((d) => a.put(key, bytes('free'), NO_WRITE_FLAGS, d));
  });
});
