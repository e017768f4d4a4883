/**
 * tickstore: a durable key/value store for Colyseus game servers.
 *
 *     const store = await openStore({ dir: './data' });
 *     const ticker = store.ticker();           // one per room
 *     ticker.put(key, bytes);                   // returns a handle at once
 *     ticker.tick();                            // inside the room's clock tick
 */
import { checkOptions, engineConfig, type StoreOptions, type Tunables } from './config.js';
import { StoreRegistry } from './registry.js';
import { WorkerBackend } from './engine/workerBackend.js';
import { Store } from './store.js';

export { buildKey, keyPrefix, MAX_KEY_PARAMS } from './buildKey.js';
export type { StoreOptions, Tunables, SyncMode, WritePolicy, FlushPolicy } from './config.js';
export { DEFAULTS } from './config.js';
export {
  TickstoreError, InvalidKeyError, InvalidValueError, InvalidArgumentError, InvalidConfigError,
  StoreClosedError, StoreLockedError, CorruptionError, StoreIOError, TransactionConflictError, TransactionAbortedError, type ErrorCode,
} from './errors.js';
export { MAX_KEY_BYTES, MAX_VALUE_BYTES, MAX_BATCH_OPS, type BatchOp, type Condition, type ExpiryOptions } from './input.js';
export { Store, type StoreMetrics } from './store.js';
export { Transaction } from './transaction.js';
export { StoreRegistry, checkStoreId, type StoreRef } from './registry.js';
export {
  Ticker, type StoreResult, type StoreChange, type WatchTarget, type TickerOptions, type GetOptions, type OpName, type ScanOptions, type WriteOptions,
} from './ticker.js';

/**
 * Opens (creating if needed) the store in `options.dir` on the embedded disk
 * engine, running on its own worker thread. Resolves once recovery is done:
 * a torn tail truncated, the replica reconciled. Rejects with
 * InvalidConfigError, StoreLockedError (another process holds the directory),
 * CorruptionError (file and offset) or StoreIOError.
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const { dir, backend, tunables } = checkOptions(options);
  const engine = backend === 'memory'
    ? await WorkerBackend.openMemory(dir, engineConfig(tunables))
    : await WorkerBackend.open(dir, engineConfig(tunables));
  return new Store(engine, tunables);
}

/** A registry of shared, reference-counted stores under `baseDir` (see StoreRegistry). */
export function createRegistry(baseDir: string, defaults: Partial<Tunables> = {}): StoreRegistry {
  return new StoreRegistry(baseDir, openStore, defaults);
}
