import { openStore, type Store } from '../../src/index.js';
import { tmpDir } from '../helpers.js';
import { conformance, waitFor } from '../../testkit.js';

/** The embedded disk engine: a fresh temporary directory per store. */
const dirs = new WeakMap<Store, string>();
async function openDir(dir: string): Promise<Store> {
  const store = await openStore({ dir });
  dirs.set(store, dir);
  return store;
}

conformance({
  name: 'disk',
  supports: { permanence: true, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: true },
  open: () => openDir(tmpDir('conf-disk')),
  reopen: async (store) => { await store.close(); return openDir(dirs.get(store)!); },
  peer: (store) => openDir(dirs.get(store)!),
  variants: [
    { name: 'per-key' },
    {
      name: 'async-batch',
      tunables: { syncMode: 'async-batch', syncIntervalMs: 20 },
      settle: (store) => waitFor(() => store.metrics().replicaLag === 0, 'the replica to catch up'),
    },
  ],
});
