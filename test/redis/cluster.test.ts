import { expect } from 'chai';
import { Cluster } from 'ioredis';
import type { Backend, RemoteChange } from '../../src/backend.js';
import { NO_WRITE_FLAGS } from '../../src/backend.js';
import { buildKey, keyPrefix } from '../../src/buildKey.js';
import { CrossSlotError, InvalidConfigError } from '../../src/errors.js';
import { redisBackend } from '../../src/engines/redis/index.js';
import { RedisCluster, requireRedis } from '../support/redisServer.js';
import { bytes, call, freshPrefix, ok, openRedis, text } from './ops.js';

describe('redis engine: 3-master cluster', function () {
  let cluster: RedisCluster;
  let client: Cluster;
  let client2: Cluster;
  let b: Backend;
  let b2: Backend;

  before(async function () {
    requireRedis(this);
    cluster = await RedisCluster.start(3);
    client = new Cluster(cluster.startupNodes, { enableAutoPipelining: true, enableOfflineQueue: false, retryDelayOnFailover: 0 });
    client2 = new Cluster(cluster.startupNodes, { enableAutoPipelining: true });
    const prefix = freshPrefix();
    b = await openRedis({ client, prefix });
    b2 = await openRedis({ client: client2, prefix });
  });
  after(async () => {
    await b?.close();
    await b2?.close();
    client?.disconnect();
    client2?.disconnect();
    await cluster?.destroy();
  });

  const players = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n];

  it('ops work across the nodes (players hash to different slots)', async () => {
    for (const u of players) {
      await ok((d) => b.put(buildKey(1, u, [1n]), bytes(`p${u}`), NO_WRITE_FLAGS, d));
      await ok((d) => b.put(buildKey(2, u), bytes(`inv${u}`), NO_WRITE_FLAGS, d));
    }
    await ok((d) => b.put('world', bytes('w'), NO_WRITE_FLAGS, d));
    for (const u of players) expect(text((await ok((d) => b.get(buildKey(1, u, [1n]), d))).value)).to.equal(`p${u}`);
    const v = (await ok((d) => b.exists(buildKey(1, 3n, [1n]), d))).version!;
    expect((await ok((d) => b.putIf(buildKey(1, 3n, [1n]), bytes('x'), { version: v }, NO_WRITE_FLAGS, d))).found).to.equal(true);
    // A cross-player scan walks the registry and each player's index.
    const page = await ok((d) => b.scan({ limit: 100, reverse: false }, d));
    expect(page.entries!.map((e) => e.key)).to.deep.equal([
      ...players.flatMap((u) => [buildKey(1, u, [1n])]), ...players.map((u) => buildKey(2, u)), 'world',
    ]);
    const rev = await ok((d) => b.scan({ prefix: '00000002:', limit: 3, reverse: true }, d));
    expect(rev.entries!.map((e) => e.key)).to.deep.equal([buildKey(2, 8n), buildKey(2, 7n), buildKey(2, 6n)]);
    expect(rev.found).to.equal(true);
    const lease = await ok((d) => b.leaseAcquire(keyPrefix(1, 4n), 5000, d));
    await ok((d) => b.put(buildKey(1, 4n, [1n]), bytes('fenced'), { fence: { scope: keyPrefix(1, 4n), token: lease.version! } }, d));
  });

  it('a batch spanning two players is refused with CrossSlotError before anything is sent', async () => {
    const o = await call((d) => b.batch([
      { type: 'put', key: buildKey(1, 1n, [5n]), value: bytes('a') },
      { type: 'put', key: buildKey(1, 2n, [5n]), value: bytes('b') },
    ], NO_WRITE_FLAGS, d));
    expect(o.error).to.be.instanceOf(CrossSlotError);
    expect((await ok((d) => b.get(buildKey(1, 1n, [5n]), d))).found).to.equal(false);
    expect((await ok((d) => b.get(buildKey(1, 2n, [5n]), d))).found).to.equal(false);
    // A player key with a world key, a transaction across players, a fence of another player: refused too.
    expect((await call((d) => b.batch([{ type: 'put', key: buildKey(1, 1n), value: bytes('a') }, { type: 'delete', key: 'world' }], NO_WRITE_FLAGS, d))).error).to.be.instanceOf(CrossSlotError);
    expect((await call((d) => b.txCommit(new Map([[buildKey(1, 2n), 0]]), [{ type: 'put', key: buildKey(1, 1n), value: bytes('a') }], d))).error).to.be.instanceOf(CrossSlotError);
    expect((await call((d) => b.txRead(buildKey(1, 1n), new Map([[buildKey(1, 2n), 0]]), d))).error).to.be.instanceOf(CrossSlotError);
    expect((await call((d) => b.put(buildKey(1, 1n), bytes('a'), { fence: { scope: keyPrefix(1, 2n), token: 1 } }, d))).error).to.be.instanceOf(CrossSlotError);
    expect(text((await ok((d) => b.get('world', d))).value)).to.equal('w');
  });

  it('a batch of one player across funcIds is atomic, and its message reaches another instance', async () => {
    const heard: RemoteChange[] = [];
    b2.onRemoteChange((c) => heard.push(c));
    const u = 77n;
    await ok((d) => b.batch([
      { type: 'put', key: buildKey(1, u), value: bytes('profile') },
      { type: 'put', key: buildKey(2, u, [1n]), value: bytes('item') },
      { type: 'delete', key: buildKey(3, u) },
    ], NO_WRITE_FLAGS, d));
    expect(text((await ok((d) => b2.get(buildKey(1, u), d))).value)).to.equal('profile');
    expect(text((await ok((d) => b2.get(buildKey(2, u, [1n]), d))).value)).to.equal('item');
    // Atomic as one: a failed transaction check writes none of it.
    const v = (await ok((d) => b.exists(buildKey(1, u), d))).version!;
    const tx = await ok((d) => b.txCommit(new Map([[buildKey(1, u), v + 1000]]), [
      { type: 'put', key: buildKey(1, u), value: bytes('no') }, { type: 'put', key: buildKey(2, u, [1n]), value: bytes('no') },
    ], d));
    expect(tx.found).to.equal(false);
    expect(text((await ok((d) => b.get(buildKey(2, u, [1n]), d))).value)).to.equal('item');
    const end = Date.now() + 5000;
    while (!heard.some((c) => !c.resync && c.key === buildKey(2, u, [1n]))) {
      if (Date.now() > end) throw new Error('b2 did not hear the batch');
      await new Promise((r) => setTimeout(r, 10));
    }
    const scanned = await ok((d) => b2.scan({ gte: keyPrefix(1, u), lte: `${keyPrefix(2, u)}:ffffffffffffffff`, limit: 20, reverse: false }, d));
    // Across groups: this player's funcId 1 group, the other players' funcId 2 keys, this player's funcId 2 group.
    expect(scanned.entries!.map((e) => e.key)).to.deep.equal([buildKey(1, u), ...players.map((p) => buildKey(2, p)), buildKey(2, u, [1n])]);
  });

  it('refuses waitReplicas with a cluster client', () => {
    expect(() => redisBackend({ client, waitReplicas: 1 })).to.throw(InvalidConfigError);
  });
});
