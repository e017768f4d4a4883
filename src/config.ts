import type { BackendFactory } from './backend.js';
import { InvalidConfigError, describeValue } from './errors.js';
import { readOptions, wholeNumber, type ErrorMaker } from './input.js';

/**
 * How the read replica follows the write store. `'per-key'` (default): the
 * replica is updated on the same commit, so a read after a write sees it.
 * `'async-batch'`: the replica catches up every `syncIntervalMs`; reads may
 * briefly lag.
 */
export type SyncMode = 'per-key' | 'async-batch';
/**
 * What a write does to the memcache entry of its key. `'evict'` (default): it
 * drops the entry; the next read re-fetches. `'update'`: it overwrites a
 * cached entry in place once the write is durable.
 */
export type WritePolicy = 'evict' | 'update';

/**
 * When acknowledged writes reach the disk (default `{ mode: 'immediate' }`).
 *
 * - `'immediate'`: every write is fdatasync'd before it is acknowledged;
 *   writes waiting while an fsync runs share the next one (group commit). A
 *   crash, even a power loss, loses nothing acknowledged.
 * - `'grouped'`: a write is acknowledged once it is in the log (the OS page
 *   cache) and fsync'd at most once per `intervalMs` (sooner once 16 MiB
 *   are unsynced): far fewer fsyncs, but a power loss or OS crash may take
 *   the writes of the last interval (a killed process loses nothing).
 *   `writeDurable()`, `put(…, { durable: true })` and `flush()` force an
 *   fsync that takes every earlier write with it.
 *
 * Anything else is an {@link InvalidConfigError}.
 *
 * @example
 * ```ts
 * await openStore({ dir: './data', flushPolicy: { mode: 'grouped', intervalMs: 10 } });
 * ```
 */
export type FlushPolicy =
  | {
    /** Fsync each write before acknowledging it. */
    mode: 'immediate'
  }
  | {
    /** Acknowledge once in the log; fsync at most once per `intervalMs`. */
    mode: 'grouped';
    /** Most ms between fsyncs: a whole number in 1..2147483647 (the longest timer Node runs; no default: required). */
    intervalMs: number
  };

/**
 * Every option {@link Store.configure} may change in place (all but `dir`
 * and `backend`); {@link openStore} takes any of them too. Omitted ones take
 * their defaults ({@link DEFAULTS}); a value outside its bounds, or an
 * unknown option, is an {@link InvalidConfigError} and changes nothing.
 */
export interface Tunables {
  /**
   * `'per-key'` (default): the replica is updated on the same commit; a read after a write sees it.
   * `'async-batch'`: the replica is updated in batches every `syncIntervalMs`; reads may briefly lag.
   */
  syncMode: SyncMode;
  /**
   * `'evict'` (default): a write drops the cached entry; the next read re-fetches.
   * `'update'`: a write overwrites a cached single-key entry in place once it is durable.
   */
  writePolicy: WritePolicy;
  /**
   * Memcache bound in entries: a whole number in 0..1048576 (2^20); 0 means the default (4096).
   * The LRU preallocates its index for this many entries (about 25 bytes each, ~26 MB at the maximum).
   */
  memcacheCapacity: number;
  /** Memcache bound in bytes of cached values: a whole number in 1..2^40 (1 TiB) (default 64 MiB). */
  memcacheMaxBytes: number;
  /** Compact a log once this fraction of it is dead bytes: 0 < r <= 1 (default 0.5). */
  compactRatio: number;
  /** Never compact a log smaller than this many bytes: a whole number in 0..2^48 (256 TiB) (default 16 MiB). */
  compactMinBytes: number;
  /** In `'async-batch'` mode, how often the replica catches up, in ms: a whole number in 1..2147483647 (the longest timer Node runs) (default 50). */
  syncIntervalMs: number;
  /** When acknowledged writes are fsync'd (default `{ mode: 'immediate' }`; see {@link FlushPolicy}). */
  flushPolicy: FlushPolicy;
}

/**
 * The options of {@link openStore}: `dir` (required), `backend`, and any of
 * the {@link Tunables} (each optional, with its default). Unknown options,
 * and values outside their bounds, are an {@link InvalidConfigError}.
 *
 * @example
 * ```ts
 * const options: StoreOptions = { dir: './data', syncMode: 'async-batch', memcacheCapacity: 10_000 };
 * ```
 */
export interface StoreOptions extends Partial<Tunables> {
  /**
   * Directory of the store (required, no default, except with a shared engine): a non-empty path without NUL bytes or lone surrogates, fixed at open;
   * created (with parents) when missing. One process per directory. For `'memory'`, just a name.
   */
  dir?: string;
  /**
   * `'disk'` (default): the embedded engine on a worker thread. `'memory'`: the same engine on an
   * in-memory file system — identical semantics, nothing survives the process (tests, ephemeral data).
   * Or a backend factory: `diskBackend({ dir })`, `memoryBackend({ dir })`, `tieredBackend({ primary, … })`,
   * `redisBackend({ url, prefix })` from `tickstore/redis`, or your own (then `dir` is optional:
   * only the store's name in logs). Fixed at open.
   */
  backend?: 'disk' | 'memory' | BackendFactory;
}

export const DEFAULT_MEMCACHE_CAPACITY = 4096;

/** The default of every tunable (see {@link Tunables}). */
export const DEFAULTS: Tunables = {
  syncMode: 'per-key',
  writePolicy: 'evict',
  memcacheCapacity: DEFAULT_MEMCACHE_CAPACITY,
  memcacheMaxBytes: 64 * 1024 * 1024,
  compactRatio: 0.5,
  compactMinBytes: 16 * 1024 * 1024,
  syncIntervalMs: 50,
  flushPolicy: { mode: 'immediate' },
};

/** The upper bounds of the numeric tunables (see {@link Tunables}). */
export const LIMITS = {
  memcacheCapacity: 2 ** 20,
  memcacheMaxBytes: 2 ** 40,
  compactMinBytes: 2 ** 48,
  /** setTimeout's maximum: a longer delay fires after 1 ms instead. */
  intervalMs: 2 ** 31 - 1,
} as const;

const TUNABLES = Object.keys(DEFAULTS) as (keyof Tunables)[];
const configError: ErrorMaker = (m) => new InvalidConfigError(m);


/**
 * Checks a partial set of tunables (read by property access) against their
 * bounds; returns `base` with them applied. Checks everything before
 * returning anything, so a refused set changes nothing.
 */
export function checkTunables(o: unknown, base: Tunables): Tunables {
  return applyTunables(readOptions(o, 'store', TUNABLES, configError), base);
}

function applyTunables(o: { [K in keyof Tunables]?: unknown }, base: Tunables): Tunables {
  const t: Tunables = { ...base };
  if (o.syncMode !== undefined) {
    if (o.syncMode !== 'per-key' && o.syncMode !== 'async-batch') {
      throw new InvalidConfigError(`syncMode must be 'per-key' or 'async-batch', got ${describeValue(o.syncMode)}`);
    }
    t.syncMode = o.syncMode;
  }
  if (o.writePolicy !== undefined) {
    if (o.writePolicy !== 'evict' && o.writePolicy !== 'update') {
      throw new InvalidConfigError(`writePolicy must be 'evict' or 'update', got ${describeValue(o.writePolicy)}`);
    }
    t.writePolicy = o.writePolicy;
  }
  if (o.memcacheCapacity !== undefined) {
    const n = wholeNumber('memcacheCapacity', o.memcacheCapacity, 0, LIMITS.memcacheCapacity, configError);
    t.memcacheCapacity = n === 0 ? DEFAULT_MEMCACHE_CAPACITY : n;
  }
  if (o.memcacheMaxBytes !== undefined) t.memcacheMaxBytes = wholeNumber('memcacheMaxBytes', o.memcacheMaxBytes, 1, LIMITS.memcacheMaxBytes, configError);
  if (o.compactRatio !== undefined) {
    const r = o.compactRatio;
    if (typeof r !== 'number' || !(r > 0 && r <= 1)) {
      throw new InvalidConfigError(`compactRatio must be a number in (0, 1], got ${describeValue(r)}`);
    }
    t.compactRatio = r;
  }
  if (o.compactMinBytes !== undefined) t.compactMinBytes = wholeNumber('compactMinBytes', o.compactMinBytes, 0, LIMITS.compactMinBytes, configError);
  if (o.syncIntervalMs !== undefined) t.syncIntervalMs = wholeNumber('syncIntervalMs', o.syncIntervalMs, 1, LIMITS.intervalMs, configError);
  if (o.flushPolicy !== undefined) t.flushPolicy = checkFlushPolicy(o.flushPolicy);
  return t;
}

const FLUSH_POLICY = "flushPolicy must be { mode: 'immediate' } or { mode: 'grouped', intervalMs }";

function checkFlushPolicy(p: unknown): FlushPolicy {
  if (p === null || typeof p !== 'object') throw new InvalidConfigError(`${FLUSH_POLICY}, got ${describeValue(p)}`);
  const o = readOptions(p, 'flushPolicy', ['mode', 'intervalMs'], configError);
  if (o.mode === 'immediate' && o.intervalMs === undefined) return { mode: 'immediate' };
  if (o.mode === 'grouped') return { mode: 'grouped', intervalMs: wholeNumber('flushPolicy.intervalMs', o.intervalMs, 1, LIMITS.intervalMs, configError) };
  throw new InvalidConfigError(`${FLUSH_POLICY}, got mode ${describeValue(o.mode)}${o.intervalMs === undefined ? '' : ` with intervalMs ${describeValue(o.intervalMs)}`}`);
}

/** Checks a store directory: a non-empty, well-formed string (a lone surrogate would name another directory) without NUL bytes. */
export function checkDir(name: string, dir: unknown): string {
  if (typeof dir !== 'string' || dir.length === 0 || dir.includes('\0') || !dir.isWellFormed()) {
    throw new InvalidConfigError(`${name} must be a non-empty path string without NUL bytes or lone surrogates, got ${describeValue(dir)}`);
  }
  return dir;
}

/** Validates open-time options: `dir` plus the tunables, each read once by property access. */
export function checkOptions(options: unknown): { dir: string; backend: 'disk' | 'memory' | BackendFactory; tunables: Tunables } {
  if (options === null || typeof options !== 'object') {
    throw new InvalidConfigError(`openStore needs an options object with dir, got ${describeValue(options)}`);
  }
  const o = readOptions(options, 'store', [...TUNABLES, 'dir', 'backend'], configError);
  const backend = o.backend ?? 'disk';
  if (backend !== 'disk' && backend !== 'memory' && !isBackendFactory(backend)) {
    throw new InvalidConfigError(`backend must be 'disk', 'memory' or an engine such as redisBackend(…), got ${describeValue(backend)}`);
  }
  // A factory names its own place (a directory, a Redis prefix): dir is then only the store's name in logs.
  const dir = typeof backend === 'object' && o.dir === undefined ? (typeof backend.label === 'string' ? backend.label : backend.kind) : checkDir('dir', o.dir);
  return { dir, backend, tunables: applyTunables(o, DEFAULTS) };
}

function isBackendFactory(b: unknown): b is BackendFactory {
  return b !== null && typeof b === 'object' && typeof (b as BackendFactory).open === 'function' && typeof (b as BackendFactory).kind === 'string';
}

/** The part of the tunables the engine (worker) needs. */
export interface EngineConfig {
  syncMode: SyncMode;
  compactRatio: number;
  compactMinBytes: number;
  syncIntervalMs: number;
  flushPolicy: FlushPolicy;
}

export function engineConfig(t: Tunables): EngineConfig {
  return {
    syncMode: t.syncMode, compactRatio: t.compactRatio, compactMinBytes: t.compactMinBytes, syncIntervalMs: t.syncIntervalMs,
    flushPolicy: t.flushPolicy,
  };
}
