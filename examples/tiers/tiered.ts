/**
 * A store of tiers: player data on the local disk with a backup on a second
 * disk (another volume, in production), sessions and caches in memory.
 * Run: `node --import tsx examples/tiers/tiered.ts [baseDir]`.
 */
import { BackupWriteError, diskBackend, memoryBackend, openStore, tieredBackend, type Store } from '../../src/index.js';

export function openTieredStore(base: string): Promise<Store> {
  return openStore({
    backend: tieredBackend({
      primary: diskBackend({ dir: `${base}/primary` }),
      backup: diskBackend({ dir: `${base}/backup` }),     // acknowledged only once both have a write
      ephemeral: memoryBackend({ dir: `${base}/sessions` }), // rebuildable: never touches the disks
      route: { ephemeral: ['session:', 'cache:'] },
    }),
  });
}

export async function savePlayer(store: Store, key: string, bytes: Uint8Array): Promise<'saved' | 'primary-only'> {
  try {
    await store.put(key, bytes);
    return 'saved';
  } catch (err) {
    // The primary holds it (reads see it); the backup is repaired in the background.
    if (err instanceof BackupWriteError) return 'primary-only';
    throw err;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const store = await openTieredStore(process.argv[2] ?? './data/tiers');
  console.log(await savePlayer(store, 'player:42', new TextEncoder().encode('{"gold":10}')));
  await store.put('session:42', new TextEncoder().encode('{"room":"arena"}'));
  console.log((await store.scan({})).entries.map((e) => e.key), store.metrics().tiers?.repairsPending);
  await store.close();
}
