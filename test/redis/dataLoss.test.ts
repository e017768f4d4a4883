import { expect } from 'chai';
import type { Backend } from '../../src/backend.js';
import { NO_WRITE_FLAGS } from '../../src/backend.js';
import { buildKey, keyPrefix } from '../../src/buildKey.js';
import { LeaseLostError, StoreIOError } from '../../src/errors.js';
import { RedisServer, cli, requireRedis } from '../support/redisServer.js';
import { bytes, call, freshPrefix, ok, openRedis, text } from './ops.js';

/*
 * A Redis that lost data (no AOF, appendfsync everysec after a crash, a
 * failover to a lagging replica: FLUSHALL stands in for all of them) or that
 * refuses writes (maxmemory reached). Regressions of an independent review.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('redis engine: a Redis that lost data or refuses writes', function () {
  let server: RedisServer;
  let a: Backend;
  let b: Backend;

  before(async function () { requireRedis(this); server = await RedisServer.start(); });
  after(async () => { await server?.destroy(); });
  beforeEach(async function () {
    if (!server) this.skip();
    const prefix = freshPrefix();
    a = await openRedis({ url: server.url, prefix });
    b = await openRedis({ url: server.url, prefix });
  });
  afterEach(async () => {
    cli(server.port, 'CONFIG', 'SET', 'maxmemory', '0');
    await a?.close();
    await b?.close();
  });

  it('a lease granted after the token counter was lost still outranks every earlier token: the old holder writes, renews and releases nothing', async () => {
    const scope = keyPrefix(1, 42n);
    const key = buildKey(1, 42n, [1n]);
    const l1 = await ok((d) => a.leaseAcquire(scope, 10_000, d));
    cli(server.port, 'FLUSHALL');
    const l2 = await ok((d) => b.leaseAcquire(scope, 10_000, d));
    expect(l2.found).to.equal(true);
    expect(l2.version, 'a new token, above the lost one').to.be.above(l1.version!);
    const stale = { scope, token: l1.version! };
    expect((await call((d) => a.put(key, bytes('stale'), { fence: stale }, d))).error).to.be.instanceOf(LeaseLostError);
    expect((await ok((d) => a.leaseRenew(scope, l1.version!, 10_000, d))).found, 'renew').to.equal(false);
    expect((await ok((d) => a.leaseRelease(scope, l1.version!, d))).found, 'release').to.equal(false);
    // The new holder still holds it and writes.
    await ok((d) => b.put(key, bytes('new'), { fence: { scope, token: l2.version! } }, d));
    expect(text((await ok((d) => a.get(key, d))).value)).to.equal('new');
    // Tokens keep growing from there.
    await ok((d) => b.leaseRelease(scope, l2.version!, d));
    expect((await ok((d) => a.leaseAcquire(scope, 10_000, d))).version).to.be.above(l2.version!);
  });

  it('after data loss and a reconnect, a player group written again is listed by cross-group scans again', async () => {
    const k0 = buildKey(1, 42n, [0n]);
    await ok((d) => a.put(k0, bytes('before'), NO_WRITE_FLAGS, d));
    cli(server.port, 'FLUSHALL');
    cli(server.port, 'CLIENT', 'KILL', 'TYPE', 'normal'); // the restart's reconnect
    const k1 = buildKey(1, 42n, [1n]), k2 = buildKey(1, 42n, [2n]);
    for (let i = 0; ; i++) {
      if (!(await call((d) => a.put(k1, bytes('one'), NO_WRITE_FLAGS, d))).error) break;
      if (i > 200) throw new Error('the backend did not reconnect');
      await sleep(25);
    }
    await ok((d) => a.put(k2, bytes('two'), NO_WRITE_FLAGS, d));
    for (const spec of [{ limit: 100, reverse: false }, { prefix: '00000001:', limit: 100, reverse: false }]) {
      const page = await ok((d) => b.scan(spec, d));
      expect(page.entries!.map((e) => e.key), JSON.stringify(spec)).to.deep.equal([k1, k2]);
    }
  });

  it('at maxmemory (noeviction) writes fail typed, not applied, while reads and scans still answer', async () => {
    const key = buildKey(1, 7n, [1n]);
    await ok((d) => a.put(key, bytes('kept'), NO_WRITE_FLAGS, d));
    await ok((d) => a.put('world:k', bytes('w'), NO_WRITE_FLAGS, d));
    cli(server.port, 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    cli(server.port, 'CONFIG', 'SET', 'maxmemory', '1');
    const refused = await call((d) => a.put(key, bytes('new'), NO_WRITE_FLAGS, d));
    expect(refused.error).to.be.instanceOf(StoreIOError);
    expect((refused.error as StoreIOError).syscallCode).to.equal('ENOMEM');
    expect(text((await ok((d) => b.get(key, d))).value)).to.equal('kept');
    expect((await ok((d) => b.exists(key, d))).found).to.equal(true);
    expect((await ok((d) => b.scan({ limit: 10, reverse: false }, d))).entries!.map((e) => e.key)).to.deep.equal([key, 'world:k']);
    expect((await ok((d) => b.scan({ prefix: keyPrefix(1, 7n), limit: 10, reverse: false }, d))).entries!.length).to.equal(1);
    cli(server.port, 'CONFIG', 'SET', 'maxmemory', '0');
    await ok((d) => a.put(key, bytes('new'), NO_WRITE_FLAGS, d));
    expect(text((await ok((d) => b.get(key, d))).value)).to.equal('new');
  });
});
