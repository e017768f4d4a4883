import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { diskBackend, memoryBackend, openStore, tieredBackend, type BackendFactory, type Store } from '../../src/index.js';
import { redisBackend } from '../../redis.js';
import { RedisServer, requireRedis } from '../support/redisServer.js';
import { tmpDir, waitFor } from '../helpers.js';
import { conformance } from './suite.js';

/**
 * The tier router against the whole suite, over three compositions. The
 * route sends the suite's `session:`, `e:` and `s:` keys to the ephemeral
 * tier, so its scans, watches and expiry rules run over both tiers merged.
 */
const route = { ephemeral: ['session:', 'e:', 's:'] };
let n = 0;
const made = new WeakMap<Store, () => BackendFactory>();
async function openWith(make: () => BackendFactory): Promise<Store> {
  const store = await openStore({ backend: make() });
  made.set(store, make);
  return store;
}
const again = (store: Store): Promise<Store> => openWith(made.get(store)!);

const memName = (): string => join(tmpdir(), `tickstore-conf-tier-${process.pid}-${Date.now()}-${++n}`);

conformance({
  name: 'tiered: memory primary + memory backup + memory ephemeral',
  supports: { permanence: true, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: false },
  open: () => {
    const base = memName();
    return openWith(() => tieredBackend({
      primary: memoryBackend({ dir: `${base}-p` }), backup: memoryBackend({ dir: `${base}-b` }), ephemeral: memoryBackend({ dir: `${base}-e` }), route,
    }));
  },
  reopen: async (store) => { await store.close(); return again(store); },
  peer: again,
});

conformance({
  name: 'tiered: disk primary + disk backup + memory ephemeral',
  supports: { permanence: true, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: false },
  open: () => {
    const p = tmpDir('conf-tier-p');
    const b = tmpDir('conf-tier-b');
    const e = memName();
    return openWith(() => tieredBackend({ primary: diskBackend({ dir: p }), backup: diskBackend({ dir: b }), ephemeral: memoryBackend({ dir: e }), route }));
  },
  reopen: async (store) => { await store.close(); return again(store); },
  peer: again,
  variants: [
    { name: 'per-key' },
    {
      name: 'async-batch',
      tunables: { syncMode: 'async-batch', syncIntervalMs: 20 },
      settle: (store) => waitFor(() => {
        const t = store.metrics().tiers;
        return t !== undefined && t.primary.replicaLag === 0 && (t.ephemeral?.replicaLag ?? 0) === 0;
      }, 'the replicas to catch up'),
    },
  ],
});

let server: RedisServer | undefined;
conformance({
  name: 'tiered: redis primary + disk backup',
  supports: { permanence: true, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: false },
  before: async function (this: Mocha.Context) { requireRedis(this); server = await RedisServer.start(); },
  after: async () => { await server?.destroy(); },
  open: () => {
    const prefix = `conftier${process.pid}x${++n}`;
    const b = tmpDir('conf-tier-rb');
    return openWith(() => tieredBackend({ primary: redisBackend({ url: server!.url, prefix }), backup: diskBackend({ dir: b }) }));
  },
  reopen: async (store) => { await store.close(); return again(store); },
  peer: again,
});
