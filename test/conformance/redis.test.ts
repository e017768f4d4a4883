import { openStore, type Store } from '../../src/index.js';
import { redisBackend } from '../../redis.js';
import { RedisServer, requireRedis } from '../support/redisServer.js';
import { conformance } from '../../testkit.js';

/**
 * The Redis engine on a real redis-server (AOF, appendfsync always), each
 * test on a fresh key prefix: the same data is open from several stores at
 * once, as from several processes.
 */
let server: RedisServer | undefined;
let n = 0;
const prefixes = new WeakMap<Store, string>();
async function openPrefix(prefix: string): Promise<Store> {
  const store = await openStore({ backend: redisBackend({ url: server!.url, prefix }) });
  prefixes.set(store, prefix);
  return store;
}

conformance({
  name: 'redis',
  supports: { permanence: true, ttl: true, sharedAcrossProcesses: true, fencing: true, globalOrder: false },
  before: async function (this: Mocha.Context) { requireRedis(this); server = await RedisServer.start(); },
  after: async () => { await server?.destroy(); },
  open: () => openPrefix(`conf${process.pid}x${++n}`),
  reopen: async (store) => { await store.close(); return openPrefix(prefixes.get(store)!); },
  peer: (store) => openPrefix(prefixes.get(store)!),
});
