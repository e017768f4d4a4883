import { InvalidConfigError } from './errors.js';

/** How the read replica follows the write store. */
export type SyncMode = 'per-key' | 'async-batch';
/** What a write does to memcache entries that depend on its key. */
export type WritePolicy = 'evict' | 'update';

/**
 * When acknowledged writes reach the disk. 'immediate': every write is
 * fsync'd before it is acknowledged (writes in flight together share one
 * fsync). 'grouped': writes are acknowledged once written to the log and
 * fsync'd at most every `intervalMs`; a crash may lose the last interval.
 */
export type FlushPolicy = { mode: 'immediate' } | { mode: 'grouped'; intervalMs: number };

/** Everything `configure()` may change in place (all but `dir`). */
export interface Tunables {
  /** 'per-key' (default): the replica is updated on the same commit; a read after a write sees it.
   *  'async-batch': the replica is updated in batches every `syncIntervalMs`; reads may briefly lag. */
  syncMode: SyncMode;
  /** 'evict' (default): a write drops the cached entry; the next read re-fetches.
   *  'update': a write overwrites a cached single-key entry in place once it is durable. */
  writePolicy: WritePolicy;
  /** Memcache bound in entries; 0 means the default (4096). */
  memcacheCapacity: number;
  /** Memcache bound in bytes of cached values (default 64 MiB). */
  memcacheMaxBytes: number;
  /** Compact a log once this fraction of it is dead bytes (0 < r <= 1; default 0.5). */
  compactRatio: number;
  /** Never compact a log smaller than this many bytes (default 16 MiB). */
  compactMinBytes: number;
  /** In 'async-batch' mode, how often the replica catches up, in ms (default 50). */
  syncIntervalMs: number;
  /** Default { mode: 'immediate' }; see FlushPolicy. */
  flushPolicy: FlushPolicy;
}

export interface StoreOptions extends Partial<Tunables> {
  /** Directory of the store, fixed at open; created (with parents) when missing. For 'memory', just a name. */
  dir: string;
  /** 'disk' (default): the embedded engine on a worker thread. 'memory': the same engine on an in-memory file system (tests, ephemeral data; nothing survives the process). */
  backend?: 'disk' | 'memory';
}

export const DEFAULT_MEMCACHE_CAPACITY = 4096;

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

const KNOWN = new Set<string>([...Object.keys(DEFAULTS), 'dir', 'backend']);

function wholeNumber(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new InvalidConfigError(`${name} must be a whole number >= ${min}, got ${String(v)}`);
  }
  return v;
}

/** Checks a partial set of tunables; returns it with defaults applied where `base` is given. */
export function checkTunables(o: Partial<Tunables>, base: Tunables): Tunables {
  if (o === null || typeof o !== 'object') throw new InvalidConfigError('options must be an object');
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) throw new InvalidConfigError(`unknown option ${JSON.stringify(k)}`);
  }
  const t: Tunables = { ...base };
  if (o.syncMode !== undefined) {
    if (o.syncMode !== 'per-key' && o.syncMode !== 'async-batch') {
      throw new InvalidConfigError(`syncMode must be 'per-key' or 'async-batch', got ${String(o.syncMode)}`);
    }
    t.syncMode = o.syncMode;
  }
  if (o.writePolicy !== undefined) {
    if (o.writePolicy !== 'evict' && o.writePolicy !== 'update') {
      throw new InvalidConfigError(`writePolicy must be 'evict' or 'update', got ${String(o.writePolicy)}`);
    }
    t.writePolicy = o.writePolicy;
  }
  if (o.memcacheCapacity !== undefined) {
    const n = wholeNumber('memcacheCapacity', o.memcacheCapacity, 0);
    t.memcacheCapacity = n === 0 ? DEFAULT_MEMCACHE_CAPACITY : n;
  }
  if (o.memcacheMaxBytes !== undefined) t.memcacheMaxBytes = wholeNumber('memcacheMaxBytes', o.memcacheMaxBytes, 1);
  if (o.compactRatio !== undefined) {
    const r = o.compactRatio;
    if (typeof r !== 'number' || !(r > 0 && r <= 1)) {
      throw new InvalidConfigError(`compactRatio must be a number in (0, 1], got ${String(r)}`);
    }
    t.compactRatio = r;
  }
  if (o.compactMinBytes !== undefined) t.compactMinBytes = wholeNumber('compactMinBytes', o.compactMinBytes, 0);
  if (o.syncIntervalMs !== undefined) t.syncIntervalMs = wholeNumber('syncIntervalMs', o.syncIntervalMs, 1);
  if (o.flushPolicy !== undefined) t.flushPolicy = checkFlushPolicy(o.flushPolicy);
  return t;
}

function checkFlushPolicy(p: unknown): FlushPolicy {
  const o = p as { mode?: unknown; intervalMs?: unknown } | null;
  if (o !== null && typeof o === 'object') {
    const extra = Object.keys(o).filter((k) => k !== 'mode' && k !== 'intervalMs');
    if (extra.length > 0) throw new InvalidConfigError(`unknown flushPolicy option ${JSON.stringify(extra[0])}`);
    if (o.mode === 'immediate' && o.intervalMs === undefined) return { mode: 'immediate' };
    if (o.mode === 'grouped') return { mode: 'grouped', intervalMs: wholeNumber('flushPolicy.intervalMs', o.intervalMs, 1) };
  }
  throw new InvalidConfigError(`flushPolicy must be { mode: 'immediate' } or { mode: 'grouped', intervalMs }, got ${JSON.stringify(p)}`);
}

/** Validates open-time options: `dir` plus the tunables. */
export function checkOptions(o: StoreOptions): { dir: string; backend: 'disk' | 'memory'; tunables: Tunables } {
  if (o === null || typeof o !== 'object') throw new InvalidConfigError('openStore needs an options object with dir');
  if (typeof o.dir !== 'string' || o.dir.length === 0 || o.dir.includes('\0')) {
    throw new InvalidConfigError('dir must be a non-empty path string');
  }
  const { dir, backend = 'disk', ...rest } = o;
  if (backend !== 'disk' && backend !== 'memory') throw new InvalidConfigError(`backend must be 'disk' or 'memory', got ${String(backend)}`);
  return { dir, backend, tunables: checkTunables(rest, DEFAULTS) };
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
