import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { openStore, type Store } from '../../src/index.js';
import { conformance, waitFor } from '../../testkit.js';

/**
 * The memory backend: the disk engine on an in-memory file system, one per
 * name for the life of the process. A reopen of the same name in this
 * process sees the data (permanence within the process); nothing is written
 * to disk, so the names are never created.
 */
let n = 0;
const names = new WeakMap<Store, string>();
async function openName(dir: string): Promise<Store> {
  const store = await openStore({ dir, backend: 'memory' });
  names.set(store, dir);
  return store;
}

conformance({
  name: 'memory',
  supports: { permanence: true, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: true },
  open: () => openName(join(tmpdir(), `tickstore-conf-mem-${process.pid}-${Date.now()}-${++n}`)),
  reopen: async (store) => { await store.close(); return openName(names.get(store)!); },
  peer: (store) => openName(names.get(store)!),
  variants: [
    { name: 'per-key' },
    {
      name: 'async-batch',
      tunables: { syncMode: 'async-batch', syncIntervalMs: 20 },
      settle: (store) => waitFor(() => store.metrics().replicaLag === 0, 'the replica to catch up'),
    },
  ],
});
