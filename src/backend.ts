import type { EngineConfig } from './config.js';
import type { TickstoreError } from './errors.js';
import type { ErrorShape } from './errors.js';

/*
 * The seam between the store facade (validation, tickers, memcache, watches,
 * metrics) and an engine. The facade validates every input once, before it
 * calls in here; an engine never sees bad input and never validates again.
 * Each engine lives in its own folder under src/engines/ and keeps its wire
 * format (if it has one) to itself.
 */

/** What an engine promises; the conformance suite holds each engine to the rules its manifest claims. */
export interface BackendSupports {
  /** Acknowledged writes survive the process (disk: fsync'd log; Redis: per its persistence settings, see docs/redis.md). */
  permanence: boolean;
  /** Writes may carry a deadline (ttlMs / expiresAt); expired keys read as absent everywhere, scans included. */
  ttl: boolean;
  /** Several processes share the data: their writes reach this process's memcache and watches (as remote changes). */
  sharedAcrossProcesses: boolean;
  /** Leases with fencing tokens, checked in the same atomic step as a fenced write. */
  fencing: boolean;
  /** Versions come from one counter over all keys (false: each key's versions still only grow). */
  globalOrder: boolean;
}

/** A write's extras; pass {@link NO_WRITE_FLAGS} when there are none (no allocation on the hot path). */
export interface WriteFlags {
  /** When the written value expires (ms since the epoch); only on puts. */
  readonly deadline?: number | undefined;
  /** Made durable before the reply, whatever the flush policy. */
  readonly durable?: boolean;
  /** Applied only if this lease is still its scope's current one, checked atomically with the write. */
  readonly fence?: FenceToken | undefined;
}

export const NO_WRITE_FLAGS: WriteFlags = Object.freeze({});

/** A lease's identity as a write carries it. */
export interface FenceToken { readonly scope: string; readonly token: number }

/** One write of an atomic batch or a transaction commit (validated by the facade). */
export type WriteOp =
  | { type: 'put'; key: string; value: Uint8Array; expiresAt?: number }
  | { type: 'delete'; key: string };

/**
 * What a conditional put requires of the key's current state: absent (or
 * expired), at a version, or holding exactly a value (undefined: absent).
 */
export type Condition = { absent: true } | { version: number } | { value: Uint8Array | undefined };

/** A scan as the engine runs it: bounds are UTF-8 byte order, a cursor already turned into a strict bound. */
export interface ScanSpec {
  prefix?: string;
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  limit: number;
  reverse: boolean;
}

/** One entry of a scan page; `expiresAt`: its deadline (ms since the epoch), when it has one. */
export interface ScanEntry { key: string; value: Uint8Array; expiresAt?: number }

/**
 * An engine's answer to one op. Values are views the handler must copy
 * before it returns if it keeps them. A failed op's reply is `{ found: false }`
 * with the error beside it.
 *
 * - get: `found`, `value`; `stale` when the memcache must not keep the value:
 *   it may lag a newer write, or it has a deadline (the memcache keeps no deadlines).
 * - exists: `found`, `version`.
 * - put: `found` is true. delete: `found` = the key existed (and had not expired).
 * - putIf: `found` = applied; `version` = the key's version after the op.
 * - batch: `found` is true. txCommit: `found` = committed (it may come with
 *   no ops: a transaction whose closure wrote nothing checks only its reads).
 * - txRead: `found`, `value`, `version` (0: absent); `stale` = a key read before has changed (retry the attempt).
 * - scan: `entries` in order, `found` = more entries follow the page.
 * - flush: `found` is true.
 * - leaseAcquire / leaseRenew: `found` = granted; `version` = the token; `expiresAt` = when it lapses.
 * - leaseRelease: `found` = it was the current lease.
 */
export interface BackendReply {
  found: boolean;
  stale?: boolean;
  value?: Uint8Array | undefined;
  version?: number | undefined;
  entries?: ScanEntry[];
  expiresAt?: number;
}

/** Runs once per op, on the caller's thread: the reply, or the typed error that failed the op. */
export type ReplyHandler = (reply: BackendReply, error: TickstoreError | undefined) => void;

/**
 * A change another process committed (shared engines only). `resync`:
 * changes may have been missed, drop everything cached; `connected` false
 * while the change feed is down (cache nothing meanwhile), true once it is
 * back (announced again then).
 */
export type RemoteChange =
  | { resync?: undefined; key: string; op: 'put' | 'delete' | 'expire'; version: number; /** A put's value, when the notice carried it (small values). */ value?: Uint8Array }
  | { resync: true; connected: boolean };

/** Where a background check of stored bytes stands (the disk engine's write-log scrub; other engines stay `idle`). */
export interface ScrubStatus {
  /**
   * `idle`: no scrub was needed (the open scanned every entry);
   * `running`; `done`: every entry checked, none bad; `corrupt`: one failed
   * its checksum (see `corruption`); `superseded`: a compaction replaced the
   * file first (it re-reads and checks every live entry as it copies);
   * `failed`: a read failed (see `readError`; nothing is known of the rest).
   */
  state: 'idle' | 'running' | 'done' | 'corrupt' | 'superseded' | 'failed';
  /** Bytes of the log checked so far. */
  checkedBytes: number;
  /** Bytes to check in all (the log's size at open). */
  totalBytes: number;
  /** The first bad entry found: file, offset and why. */
  corruption?: { file: string; offset: number; reason: string };
  /** Why a read failed, when `state` is `failed`. */
  readError?: string;
}

/** An engine's figures, as of its latest reply (fields an engine does not have stay 0). */
export interface BackendStats {
  writeLogBytes: number;
  writeLogDeadBytes: number;
  readLogBytes: number;
  readLogDeadBytes: number;
  /** Live keys in the write store (Redis: keys this process knows of are not counted; 0). */
  writeKeys: number;
  /** Live keys in the read store. */
  readKeys: number;
  readStoreReads: number;
  fsyncs: number;
  compactions: number;
  /** Committed entries not yet mirrored to the replica (async-batch, or after a failed replica append). */
  replicaLag: number;
  /** Bytes of committed groups held for the replica's retry (bounded: see `replicaQueueDrops`). */
  replicaQueueBytes: number;
  /** Times the replica's retry queue outgrew its bound while appends kept failing: the copies were dropped and the replica resynced from the write store instead. */
  replicaQueueDrops: number;
  /** Bytes truncated from the write log's end at open: a torn tail and/or zeros written ahead (after an unclean exit). */
  truncatedBytes: number;
  /** Replica entries rewritten at open to match the write store. */
  replicaRepaired: number;
  /** 1 when the replica was unreadable at open and rebuilt from the write store. */
  replicaRebuilt: number;
  /** 1 when open took both indexes from the hint file a clean close left, instead of scanning the logs. */
  openedFromHint: number;
  /** The last compaction failure (the old log was kept), if any. */
  lastCompactionError: string | undefined;
  /** Set while an fsync failed and acknowledged writes wait to be rewritten; writes fail meanwhile. */
  flushError: ErrorShape | undefined;
  /** Acknowledged bytes not yet fsync'd (grouped flush policy). */
  unsyncedBytes: number;
  /** The background check of the write log after an open from the hint. */
  scrub: ScrubStatus;
  /** Keys dropped from the index since open because their deadline passed. */
  expiredKeys: number;
  /** A tiered backend's own figures and each tier's (absent for a single engine). */
  tiers?: TierStats;
}

/** What `tieredBackend` adds to the figures: each tier's own, and how the backup keeps up. */
export interface TierStats {
  primary: BackendStats;
  backup?: BackendStats;
  ephemeral?: BackendStats;
  /** Durable writes the primary took and the backup failed (each answered with a BackupWriteError). */
  backupFailures: number;
  /** Keys whose backup copy may be behind the primary, waiting for a repair. */
  repairsPending: number;
  /** Repairs that brought a key's backup copy up to date. */
  repairsDone: number;
  /** Failed keys not tracked because the repair queue was full: the backup has diverged (run verifyBackup). */
  repairsDropped: number;
}

/**
 * What the store facade needs from an engine. Every op method queues the op
 * and returns at once (it may throw a typed error when the engine is closed
 * or dead; nothing is queued then); `done` runs later, on the caller's
 * thread, never synchronously inside the call, exactly once per op (a
 * handler that throws must not stop the replies after it). Replies arrive
 * in submission order: the store relies on it (a ticker's results come in
 * issue order; a read answered after a later write of its key could leave a
 * stale value cached). Ops of one turn of the event loop travel together
 * (one message to the disk engine's thread, one pipeline to Redis).
 *
 * Arguments are validated once, by the store, before any call: an engine
 * never validates again, but must refuse what its `supports` lacks (a write
 * with a `deadline` without `ttl`, a `fence` without `fencing`), e.g. with a
 * `StoreIOError` whose code is `ENOTSUP`. The full contract, and how to run
 * the conformance kit (`tickstore/testkit`) on an engine: docs/backend.md.
 */
export interface Backend {
  readonly supports: BackendSupports;
  get(key: string, done: ReplyHandler): void;
  exists(key: string, done: ReplyHandler): void;
  put(key: string, value: Uint8Array, flags: WriteFlags, done: ReplyHandler): void;
  delete(key: string, flags: WriteFlags, done: ReplyHandler): void;
  putIf(key: string, value: Uint8Array, condition: Condition, flags: WriteFlags, done: ReplyHandler): void;
  batch(ops: readonly WriteOp[], flags: WriteFlags, done: ReplyHandler): void;
  /** Reads `key` with its version from the source of truth, unless a version in `reads` (key → version read, 0: absent) is no longer current (`stale`). */
  txRead(key: string, reads: ReadonlyMap<string, number>, done: ReplyHandler): void;
  /** Applies `ops` atomically if every version in `reads` is still current, validated and applied in one step. */
  txCommit(reads: ReadonlyMap<string, number>, ops: readonly WriteOp[], done: ReplyHandler): void;
  scan(spec: ScanSpec, done: ReplyHandler): void;
  /** Replies once every write before it is durable. */
  flush(done: ReplyHandler): void;
  /** Grants the scope's lease with a new, larger token if nobody holds it (or its holder's lapsed). */
  leaseAcquire(scope: string, ttlMs: number, done: ReplyHandler): void;
  /** Extends the lease if `token` is still the scope's current one. */
  leaseRenew(scope: string, token: number, ttlMs: number, done: ReplyHandler): void;
  /** Ends the lease if `token` is still the scope's current one. */
  leaseRelease(scope: string, token: number, done: ReplyHandler): void;
  configure(config: EngineConfig): Promise<void>;
  /** Compacts now, whatever the thresholds (a no-op for engines that have nothing to compact). */
  compact(): Promise<void>;
  /** The engine's latest figures. */
  stats(): BackendStats;
  readonly inFlight: number;
  /** Why the engine is gone for good (its thread died), if it is; undefined while it runs and after a clean close. */
  readonly failure: TickstoreError | undefined;
  /** Sets what runs (on the caller's thread) when the engine sweeps keys whose deadline passed out of its index. */
  onExpired(handler: (keys: readonly string[]) => void): void;
  /** Sets what runs (on the caller's thread) when another process committed a change (shared engines only). */
  onRemoteChange(handler: (change: RemoteChange) => void): void;
  /** Finishes what was submitted, then releases every resource. */
  close(): Promise<void>;
}

/**
 * An engine to open, as {@link StoreOptions.backend} takes it:
 * `diskBackend({ dir })`, `memoryBackend({ dir })`, `redisBackend(…)` and
 * `tieredBackend(…)` return one, and so can your own (see docs/backend.md).
 * `open` runs once per store, inside `openStore`.
 */
export interface BackendFactory {
  /** A short name for logs and errors, e.g. 'redis'. */
  readonly kind: string;
  /** What the store is called in logs and errors when `openStore` is given no `dir` (e.g. the disk engine's directory). */
  readonly label?: string;
  /** Opens the engine with the store's tunables; rejects with a typed error (e.g. `StoreLockedError`) when it cannot. */
  open(config: EngineConfig): Promise<Backend>;
}
