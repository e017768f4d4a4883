/**
 * tickstore: a durable key/value store for Colyseus game servers. An
 * fsync'd, checksummed log engine runs on a worker thread behind an LRU
 * memcache; results are delivered inside the room's tick, so the tick never
 * waits on a disk.
 *
 * ```ts
 * const store = await openStore({ dir: './data' });
 * const ticker = store.ticker();           // one per room
 * ticker.put(key, bytes);                   // returns a handle at once
 * ticker.tick();                            // inside the room's clock tick
 * ```
 *
 * Start at {@link openStore}, {@link Store} and {@link Ticker}; Colyseus rooms
 * use `tickstore/plugin`.
 *
 * @module tickstore
 */
import { DEFAULTS, checkDir, checkOptions, checkTunables, engineConfig, type StoreOptions, type Tunables } from './config.js';
import type { Backend } from './backend.js';
import { StoreRegistry } from './registry.js';
import { WorkerBackend } from './engines/disk/backend.js';
import { describeError, msSince, storeLog } from './log.js';
import { Store } from './store.js';

export { buildKey, keyPrefix, MAX_KEY_PARAMS } from './buildKey.js';
export type { StoreOptions, Tunables, SyncMode, WritePolicy, FlushPolicy } from './config.js';
export { DEFAULTS, LIMITS } from './config.js';
export {
  TickstoreError, InvalidKeyError, InvalidValueError, InvalidArgumentError, InvalidConfigError,
  StoreClosedError, StoreLockedError, CorruptionError, StoreIOError, TransactionConflictError, TransactionAbortedError,
  StoreUnavailableError, OutcomeUnknownError, LeaseHeldError, LeaseLostError, CrossSlotError, SessionRefusedError, type ErrorCode,
} from './errors.js';
export { RoomStateHeldError } from './errors.js';
export { SchemaMismatchError, type SchemaMismatchReason } from './errors.js';
export { MAX_KEY_BYTES, MAX_VALUE_BYTES, MAX_BATCH_OPS, MAX_BATCH_BYTES, type BatchOp, type Condition, type ExpiryOptions } from './input.js';
export { Store, type StoreMetrics, type StoreHealth } from './store.js';
export type { ScrubStatus } from './backend.js';
export { Transaction, MAX_TX_RETRIES, type TransactionOptions } from './transaction.js';
export { Lease, MAX_LEASE_TTL_MS, type LeaseOptions } from './lease.js';
export type {
  Backend, BackendFactory, BackendSupports, BackendReply, BackendStats, ReplyHandler, RemoteChange, WriteFlags, WriteOp, FenceToken,
  Condition as BackendCondition, ScanSpec, ScanEntry, TierStats,
} from './backend.js';
export { NO_WRITE_FLAGS } from './backend.js';
export { compareKeys } from './keys.js';
export type { EngineConfig } from './config.js';
export { diskBackend, type DiskBackendOptions } from './engines/disk/index.js';
export { memoryBackend, type MemoryBackendOptions } from './engines/memory/index.js';
export { StoreRegistry, checkStoreId, type StoreRef } from './registry.js';
export {
  Ticker, type StoreResult, type StoreChange, type WatchTarget, type TickerOptions, type GetOptions, type OpName, type ScanOptions, type WriteOptions, type DeleteOptions,
} from './ticker.js';

/**
 * Opens (creating if needed) the store in `options.dir` on the embedded disk
 * engine, running on its own worker thread (`backend: 'memory'`: the same
 * engine on an in-memory file system). Resolves once recovery is done: a torn
 * tail truncated, the replica reconciled. One process per directory: close
 * the store with {@link Store.close} to release it.
 *
 * @param options The directory, and any {@link Tunables} to override (see {@link StoreOptions}).
 * @returns The open store.
 * @throws {@link InvalidConfigError} (rejects) An option is unknown or outside its bounds.
 * @throws {@link StoreLockedError} (rejects) Another process (or another open store in this one) holds the directory.
 * @throws {@link CorruptionError} (rejects) Durable bytes are damaged; names the file and offset.
 * @throws {@link StoreIOError} (rejects) The file system failed; `syscallCode` says how (EIO, ENOSPC, …).
 *
 * @example
 * ```ts
 * import { openStore, buildKey } from 'tickstore';
 *
 * const store = await openStore({ dir: './data', flushPolicy: { mode: 'grouped', intervalMs: 10 } });
 * const key = buildKey(1, 42n, [7]);
 * await store.put(key, new TextEncoder().encode('{"gold":10}'));
 * await store.close();
 * ```
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const started = performance.now();
  let dir = '?';
  try {
    const checked = checkOptions(options);
    dir = checked.dir;
    const { backend, tunables } = checked;
    const engine = backend === 'memory' ? await WorkerBackend.openMemory(dir, engineConfig(tunables))
      : backend === 'disk' ? await WorkerBackend.open(dir, engineConfig(tunables))
        : await backend.open(engineConfig(tunables));
    return await withEngine(engine, () => {
      if (storeLog.enabled) {
        const e = engine.stats();
        storeLog('opened %s (%s) in %d ms: writeKeys=%d readKeys=%d hintUsed=%s truncatedBytes=%d replicaRepaired=%d replicaRebuilt=%s',
          dir, typeof backend === 'string' ? backend : backend.kind, msSince(started), e.writeKeys, e.readKeys, e.openedFromHint === 1, e.truncatedBytes, e.replicaRepaired, e.replicaRebuilt === 1);
      }
      return new Store(engine, tunables, dir);
    });
  } catch (err) {
    storeLog('open %s failed after %d ms: %s', dir, msSince(started), describeError(err));
    throw err;
  }
}

/**
 * Runs the rest of an open over an engine that is already open: if it throws,
 * the engine is closed (its thread ended, the directory's LOCK released)
 * before the error propagates, so a retry can open the directory again.
 */
async function withEngine<T>(engine: Backend, rest: () => T): Promise<T> {
  try {
    return rest();
  } catch (err) {
    await engine.close().catch((closeErr: unknown) => storeLog('closing the engine of a failed open failed: %s', describeError(closeErr)));
    throw err;
  }
}

/**
 * A registry of shared, reference-counted stores under `baseDir`: one store
 * per `(id, backend)`, in the directory `baseDir/id`, closed with its last
 * release (see {@link StoreRegistry}).
 *
 * @param baseDir The directory every store's directory is created under (a non-empty path without NUL bytes).
 * @param defaults Tunables every store of this registry opens with (see {@link Tunables}).
 * @returns The registry. Nothing is opened until {@link StoreRegistry.open}.
 * @throws {@link InvalidConfigError} A bad `baseDir`, or `defaults` with an unknown option or a value outside its bounds.
 *
 * @example
 * ```ts
 * const registry = createRegistry('./data');
 * const ref = await registry.open('world');      // or ('world', { backend: 'memory' })
 * await ref.store.put('motd', new TextEncoder().encode('hello'));
 * await ref.release();                           // the last release closes the store
 * ```
 */
export function createRegistry(baseDir: string, defaults?: Partial<Tunables>): StoreRegistry {
  const base = checkDir('baseDir', baseDir);
  // Read (getters, prototypes) and checked once, here; the registry opens with the plain result.
  const tunables = checkTunables(defaults, DEFAULTS);
  return new StoreRegistry(base, openStore, tunables);
}
export { InsufficientAssetsError, IdempotencyConflictError } from './errors.js';
export {
  verifyBackup, restoreFromBackup, type BackupReport, type RestoreReport, type BackupDifference,
  type VerifyBackupOptions, type RestoreFromBackupOptions, type RestoreProgress,
} from './engines/tiered/restore.js';
export { tieredBackend, type TieredBackendOptions, type TierRoute, type KeyClass } from './engines/tiered/index.js';
export { CrossTierError, BackupWriteError, type ErrorShape } from './errors.js';
