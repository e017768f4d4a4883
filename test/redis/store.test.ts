import { expect } from 'chai';
import { buildKey, keyPrefix } from '../../src/buildKey.js';
import { LeaseLostError } from '../../src/errors.js';
import { openStore, type Store } from '../../src/index.js';
import { redisBackend } from '../../redis.js';
import { RedisServer, requireRedis } from '../support/redisServer.js';
import { bytes, freshPrefix, text } from './ops.js';

/** The Redis engine behind the public facade: two stores (two "processes") on one Redis. */
describe('redis engine: through openStore', function () {
  let server: RedisServer;
  let a: Store;
  let b: Store;

  before(async function () {
    requireRedis(this);
    server = await RedisServer.start();
    const prefix = freshPrefix();
    a = await openStore({ backend: redisBackend({ url: server.url, prefix }) });
    b = await openStore({ backend: redisBackend({ url: server.url, prefix }) });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await server?.destroy();
  });

  it('reads, writes, scans, transactions and leases', async () => {
    const k = buildKey(1, 7n, [1n]);
    await a.put(k, bytes('one'));
    expect(text(await b.get(k))).to.equal('one');
    expect(await a.putIfAbsent(k, bytes('x'))).to.equal(false);
    await a.put(buildKey(2, 7n), bytes('inv'));
    const page = await b.scan({ prefix: keyPrefix(1, 7n) });
    expect(page.entries.map((e) => e.key)).to.deep.equal([k]);
    const got = await a.transaction(async (tx) => {
      const v = await tx.get(k);
      tx.put(buildKey(3, 7n), v!);
      return text(v);
    });
    expect(got).to.equal('one');
    expect(text(await b.get(buildKey(3, 7n)))).to.equal('one');
    const lease = await a.lease(keyPrefix(1, 7n), { ttlMs: 5000 });
    await a.put(k, bytes('fenced'), { fence: lease });
    await lease.release();
    let err: unknown;
    try { await a.put(k, bytes('late'), { fence: lease }); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(LeaseLostError);
  });

  it("another store's write evicts this store's cached value", async () => {
    const k = buildKey(1, 8n);
    await a.put(k, bytes('v1'));
    expect(text(await a.get(k))).to.equal('v1'); // cached in a
    await b.put(k, bytes('v2'));
    const end = Date.now() + 5000;
    while (text(await a.get(k)) !== 'v2') {
      if (Date.now() > end) throw new Error("a kept serving its stale cached value");
      await new Promise((r) => setTimeout(r, 10));
    }
  });
});
