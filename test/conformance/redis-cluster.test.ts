import { Cluster } from 'ioredis';
import { openStore, type Store } from '../../src/index.js';
import { redisBackend } from '../../redis.js';
import { RedisCluster, requireRedis } from '../support/redisServer.js';
import { conformance } from '../../testkit.js';

/**
 * The Redis engine on a real 3-master Redis Cluster on loopback ports, each
 * test on a fresh key prefix. Each store gets its own ioredis Cluster client
 * (the settings docs/redis.md recommends), closed with the store's close.
 */
let cluster: RedisCluster | undefined;
let n = 0;
const prefixes = new WeakMap<Store, string>();
async function openPrefix(prefix: string): Promise<Store> {
  const client = new Cluster(cluster!.startupNodes, {
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    retryDelayOnFailover: 0,
    lazyConnect: true,
    redisOptions: { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false },
  });
  await client.connect();
  const store = await openStore({ backend: redisBackend({ client, prefix }) });
  const close = store.close.bind(store);
  // The store never closes a client it was given: this target owns it (and close stays idempotent).
  let closing: Promise<void> | undefined;
  store.close = () => (closing ??= close().finally(() => client.disconnect()));
  prefixes.set(store, prefix);
  return store;
}

conformance({
  name: 'redis-cluster',
  supports: { permanence: true, ttl: true, sharedAcrossProcesses: true, fencing: true, globalOrder: false },
  before: async function (this: Mocha.Context) { requireRedis(this); cluster = await RedisCluster.start(3); },
  after: async () => { await cluster?.destroy(); },
  open: () => openPrefix(`cc${process.pid}x${++n}`),
  reopen: async (store) => { await store.close(); return openPrefix(prefixes.get(store)!); },
  peer: (store) => openPrefix(prefixes.get(store)!),
});
