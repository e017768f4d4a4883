/**
 * The stable `code` of every {@link TickstoreError}, one per error class, so
 * callers can branch on it without parsing messages.
 */
export type ErrorCode =
  | 'INVALID_KEY'
  | 'INVALID_VALUE'
  | 'INVALID_ARGUMENT'
  | 'INVALID_CONFIG'
  | 'STORE_CLOSED'
  | 'STORE_LOCKED'
  | 'CORRUPTION'
  | 'IO_ERROR'
  | 'TX_CONFLICT'
  | 'TX_ABORTED'
  | 'STORE_UNAVAILABLE'
  | 'OUTCOME_UNKNOWN'
  | 'LEASE_HELD'
  | 'LEASE_LOST'
  | 'CROSS_SLOT'
  | 'SESSION_REFUSED'
  | 'ROOM_STATE_HELD'
  | 'SCHEMA_MISMATCH'
  | 'INSUFFICIENT_ASSETS'
  | 'IDEMPOTENCY_CONFLICT'
  | 'CROSS_TIER'
  | 'BACKUP_FAILED';

/**
 * The base class of every error tickstore raises; `code` is stable and
 * documented, so callers can branch on it (or use `instanceof` on the
 * subclasses) without parsing messages.
 *
 * @example
 * ```ts
 * try {
 *   await store.put(key, value);
 * } catch (err) {
 *   if (err instanceof TickstoreError && err.code === 'IO_ERROR') { }   // e.g. ENOSPC
 * }
 * ```
 */
export class TickstoreError extends Error {
  /** Which kind of error this is (see {@link ErrorCode}). */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** `INVALID_KEY`: a key that is not a non-empty, well-formed string (no lone surrogates) within {@link MAX_KEY_BYTES} UTF-8 bytes. Nothing was done. */
export class InvalidKeyError extends TickstoreError {
  constructor(message: string) { super('INVALID_KEY', message); }
}

/** `INVALID_VALUE`: a value that is not a `Uint8Array` within {@link MAX_VALUE_BYTES}. Nothing was done. */
export class InvalidValueError extends TickstoreError {
  constructor(message: string) { super('INVALID_VALUE', message); }
}

/** `INVALID_ARGUMENT`: any other bad argument — to `buildKey`, scan, batch, TTL and other options, a store id. Nothing was done. */
export class InvalidArgumentError extends TickstoreError {
  constructor(message: string) { super('INVALID_ARGUMENT', message); }
}

/** `INVALID_CONFIG`: an unknown option, or a value outside its documented range (see {@link Tunables}). Nothing was changed. */
export class InvalidConfigError extends TickstoreError {
  constructor(message: string) { super('INVALID_CONFIG', message); }
}

/** `STORE_CLOSED`: the store was closed (or the ticker disposed, or no process store is open); nothing was done. */
export class StoreClosedError extends TickstoreError {
  constructor(message = 'the store is closed') { super('STORE_CLOSED', message); }
}

/** `STORE_LOCKED`: another live process (or another open store in this one) holds the directory. */
export class StoreLockedError extends TickstoreError {
  /** The store directory. */
  readonly dir: string;
  /** The process id of the holder. */
  readonly holderPid: number;
  constructor(dir: string, holderPid: number) {
    super('STORE_LOCKED', `store directory ${dir} is locked by process ${holderPid}; one process per directory`);
    this.dir = dir;
    this.holderPid = holderPid;
  }
}

/** `CORRUPTION`: bytes on disk that were durable are not what tickstore wrote: names the file and the byte offset. */
export class CorruptionError extends TickstoreError {
  /** The damaged file. */
  readonly file: string;
  /** The byte offset of the damage in `file`. */
  readonly offset: number;
  constructor(file: string, offset: number, reason: string) {
    super('CORRUPTION', `${file}: corrupt at byte offset ${offset}: ${reason}`);
    this.file = file;
    this.offset = offset;
  }
}

/** `IO_ERROR`: the file system (or the engine) failed an operation; `syscallCode` says how. */
export class StoreIOError extends TickstoreError {
  /** The system error code: EIO, ENOSPC, … */
  readonly syscallCode: string;
  constructor(message: string, syscallCode: string) {
    super('IO_ERROR', message);
    this.syscallCode = syscallCode;
  }
}

/** `TX_CONFLICT`: a transaction kept meeting concurrent writes to what it read, past its retry budget; nothing was written. */
export class TransactionConflictError extends TickstoreError {
  /** How many attempts were made (`retries` + 1). */
  readonly attempts: number;
  constructor(attempts: number) {
    super('TX_CONFLICT', `transaction conflicted with concurrent writes ${attempts} times; nothing was written`);
    this.attempts = attempts;
  }
}

/** `TX_ABORTED`: a ticker transaction's closure threw (see `cause`: what it threw); nothing was written. */
export class TransactionAbortedError extends TickstoreError {
  constructor(override readonly cause: unknown) {
    super('TX_ABORTED', `transaction aborted by its closure: ${cause instanceof Error ? cause.message : String(cause)}; nothing was written`);
  }
}

/**
 * `STORE_UNAVAILABLE`: the engine could not be reached (Redis down,
 * restarting, or not answering within `commandTimeoutMs`) and the op was
 * never sent: it was not applied. Retry later; the backend reconnects by itself.
 */
export class StoreUnavailableError extends TickstoreError {
  constructor(message: string) { super('STORE_UNAVAILABLE', message); }
}

/**
 * `OUTCOME_UNKNOWN`: a write was sent but its answer was lost (the
 * connection dropped, or no answer came in time): it may or may not have been
 * applied. Read the key to find out; never assume either way.
 */
export class OutcomeUnknownError extends TickstoreError {
  constructor(message: string) { super('OUTCOME_UNKNOWN', message); }
}

/** `LEASE_HELD`: another holder has the scope's lease and it has not lapsed; nothing was changed. */
export class LeaseHeldError extends TickstoreError {
  /** The scope asked for. */
  readonly scope: string;
  constructor(scope: string) {
    super('LEASE_HELD', `the lease of scope ${describeValue(scope)} is held by another holder`);
    this.scope = scope;
  }
}

/**
 * `LEASE_LOST`: a fenced write (or a renew) carried a token that is no
 * longer its scope's current one (the lease lapsed, was released, or was
 * taken by another holder): nothing was written.
 */
export class LeaseLostError extends TickstoreError {
  /** The lease's scope. */
  readonly scope: string;
  constructor(scope: string, message = `the lease of scope ${describeValue(scope)} is no longer held; nothing was written`) {
    super('LEASE_LOST', message);
    this.scope = scope;
  }
}

/**
 * `SESSION_REFUSED`: a player's records could not be given to this session:
 * another live session owns them and the plugin's `secondSession` policy is
 * `'refuse'`, or the owner did not hand them over in time. Nothing was read
 * or written for this session.
 */
export class SessionRefusedError extends TickstoreError {
  /** The player's user id. */
  readonly userId: bigint;
  constructor(userId: bigint, message: string) {
    super('SESSION_REFUSED', message);
    this.userId = userId;
  }
}

/**
 * `CROSS_SLOT`: an atomic op (batch, transaction, fenced write) names keys
 * that a Redis Cluster keeps in different hash slots, so it cannot be
 * applied atomically; nothing was written. Keys of one player
 * (`keyPrefix(funcId, userId)` for any funcId) always share a slot, and so do
 * all keys that are not player keys (see docs/redis.md).
 */
export class CrossSlotError extends TickstoreError {
  constructor(message: string) { super('CROSS_SLOT', message); }
}

/**
 * A short description of any value for an error message; it never throws
 * (JSON.stringify does on a BigInt, String() on a Symbol-keyed Proxy or an
 * object whose toString throws), so building a message cannot replace the
 * typed error it is for.
 */
export function describeValue(v: unknown): string {
  try {
    switch (typeof v) {
      case 'string': return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);
      case 'bigint': return `${v}n`;
      case 'symbol': return v.toString();
      case 'function': return 'a function';
      case 'number': return Object.is(v, -0) ? '-0' : String(v);
      case 'object':
        if (v === null) return 'null';
        if (Array.isArray(v)) return `an array of length ${v.length}`;
        if (v instanceof Uint8Array) return `a Uint8Array of ${v.length} bytes`;
        return 'an object';
      default: return String(v);
    }
  } catch {
    return 'an unreadable value';
  }
}

/** A plain, cloneable form of an error, for crossing the worker boundary. */
export interface ErrorShape {
  name: string;
  message: string;
  code?: string;
  file?: string;
  offset?: number;
  dir?: string;
  holderPid?: number;
  syscallCode?: string;
  scope?: string;
}

export function toErrorShape(err: unknown): ErrorShape {
  if (err instanceof Error) {
    const e = err as Error & Partial<ErrorShape>;
    return {
      name: e.name, message: e.message, code: e.code, file: e.file, offset: e.offset,
      dir: e.dir, holderPid: e.holderPid, syscallCode: e.syscallCode, scope: e.scope,
    };
  }
  return { name: 'Error', message: String(err) };
}

/** Rebuilds the typed error a worker reported, so callers can use `instanceof`. */
export function fromErrorShape(s: ErrorShape): TickstoreError {
  switch (s.code) {
    case 'CORRUPTION': return new CorruptionError(s.file ?? '?', s.offset ?? -1, s.message.replace(/^.*?: corrupt at byte offset \d+: /, ''));
    case 'STORE_LOCKED': return new StoreLockedError(s.dir ?? '?', s.holderPid ?? -1);
    case 'INVALID_CONFIG': return new InvalidConfigError(s.message);
    case 'STORE_CLOSED': return new StoreClosedError(s.message);
    case 'IO_ERROR': return new StoreIOError(s.message, s.syscallCode ?? 'EIO');
    case 'LEASE_LOST': return new LeaseLostError(s.scope ?? '?', s.message);
    default: return new StoreIOError(s.message, s.syscallCode ?? s.code ?? 'UNKNOWN');
  }
}

/** Wraps a raw file-system error as a `StoreIOError` (typed errors pass through). */
export function asStoreError(err: unknown, what: string): TickstoreError {
  if (err instanceof TickstoreError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const msg = err instanceof Error ? err.message : String(err);
  return new StoreIOError(`${what}: ${msg}`, typeof code === 'string' ? code : 'EIO');
}

/**
 * `ROOM_STATE_HELD`: another room (in this process or, on Redis, another
 * one) holds the persistent id passed to `persistState` and did not let go
 * in time (`handoffMs`). Nothing was read or written; the room's state is
 * as it set it.
 */
export class RoomStateHeldError extends TickstoreError {
  /** The persistent id. */
  readonly id: string;
  constructor(id: string, why: string) {
    super('ROOM_STATE_HELD', `the state of room id ${describeValue(id)} is held by another room: ${why}`);
    this.id = id;
  }
}

/** Why a stored record could not be decoded as the codec's current value (see {@link SchemaMismatchError}). */
export type SchemaMismatchReason =
  | 'garbled'          // not a well-formed envelope: truncated, bad magic, unknown envelope format, checksum mismatch
  | 'codec-kind'       // written by another kind of codec (e.g. JSON read with a schema codec)
  | 'fingerprint'      // same version, but another definition (the class changed without a version bump)
  | 'newer-version'    // written by a newer version than this code knows (a rollback)
  | 'no-migration'     // an older version with no migration path to the current one
  | 'legacy'           // written before the envelope existed, and the codec does not accept such records
  | 'decode-failed'    // the codec could not decode the payload (or the schema decoder reported a mismatch)
  | 'migration-failed'; // a migration threw, or returned a value that is not of the next version

/**
 * `SCHEMA_MISMATCH`: a stored record was written with another definition
 * than the codec's, and no migration turns it into the current one (or the
 * bytes are not a record at all). Nothing was decoded into a wrong value and
 * nothing was written. Carries what was stored and what was expected.
 *
 * @example
 * ```ts
 * try {
 *   await this.plugins.store.load(client, inventorySpec);
 * } catch (err) {
 *   if (err instanceof SchemaMismatchError && err.reason === 'newer-version') { } // a rollback: deploy the newer code
 * }
 * ```
 */
export class SchemaMismatchError extends TickstoreError {
  /** The record's key, when the caller named it. */
  readonly key: string | undefined;
  /** What did not match. */
  readonly reason: SchemaMismatchReason;
  /** The version the record was written with (undefined: not readable, or a legacy record). */
  readonly storedVersion: number | undefined;
  /** The codec's current version. */
  readonly expectedVersion: number;
  /** The record's schema fingerprint, 16 hex digits (undefined: not readable, or a legacy record). */
  readonly storedFingerprint: string | undefined;
  /** The codec's fingerprint, 16 hex digits (all zeros: the codec has none). */
  readonly expectedFingerprint: string;
  constructor(detail: {
    reason: SchemaMismatchReason; key?: string | undefined; storedVersion?: number | undefined; expectedVersion: number;
    storedFingerprint?: string | undefined; expectedFingerprint: string; why: string; cause?: unknown;
  }) {
    const stored = detail.storedVersion === undefined ? 'unknown' : `v${detail.storedVersion} ${detail.storedFingerprint ?? '?'}`;
    super('SCHEMA_MISMATCH', `${detail.key === undefined ? 'record' : `record ${describeValue(detail.key)}`}: ${detail.why} `
      + `(stored ${stored}, expected v${detail.expectedVersion} ${detail.expectedFingerprint}); nothing was decoded`);
    this.key = detail.key;
    this.reason = detail.reason;
    this.storedVersion = detail.storedVersion;
    this.expectedVersion = detail.expectedVersion;
    this.storedFingerprint = detail.storedFingerprint;
    this.expectedFingerprint = detail.expectedFingerprint;
    if (detail.cause !== undefined) this.cause = detail.cause;
  }
}

/**
 * `INSUFFICIENT_ASSETS`: a consume or trade asked a player for more coins or
 * items of a kind than their wallet holds; nothing was written.
 */
export class InsufficientAssetsError extends TickstoreError {
  /** The player who lacks them. */
  readonly userId: bigint;
  /** `'coins'`, or the item kind. */
  readonly kind: string;
  /** What the wallet holds of `kind`, and what was asked for. */
  readonly have: number;
  readonly need: number;
  constructor(userId: bigint, kind: string, have: number, need: number) {
    super('INSUFFICIENT_ASSETS', `user ${userId} has ${have} of ${describeValue(kind)}, needs ${need}; nothing was written`);
    this.userId = userId;
    this.kind = kind;
    this.have = have;
    this.need = need;
  }
}

/**
 * `IDEMPOTENCY_CONFLICT`: an idempotency key already applied a different
 * economy request (another op, other players or other assets); nothing was
 * written. A retry of the same request with that key is answered with the
 * first one's receipt instead.
 */
export class IdempotencyConflictError extends TickstoreError {
  /** The reused idempotency key. */
  readonly idempotencyKey: string;
  constructor(idempotencyKey: string) {
    super('IDEMPOTENCY_CONFLICT', `idempotency key ${describeValue(idempotencyKey)} was already used for a different request; nothing was written`);
    this.idempotencyKey = idempotencyKey;
  }
}

/**
 * `CROSS_TIER`: one atomic op (a batch, a transaction, a fenced write) named
 * keys that the tiered backend's route sends to different tiers (durable and
 * ephemeral), which no single tier can apply atomically. Nothing was written.
 */
export class CrossTierError extends TickstoreError {
  constructor(message: string) { super('CROSS_TIER', message); }
}

/**
 * `BACKUP_FAILED`: the tiered backend's primary holds the write (or delete),
 * but its backup failed to take it, so the write was not acknowledged as
 * backed up. The primary's value is current: reads see it. A repair is
 * queued that copies the key's current primary state to the backup until
 * it converges (see `store.metrics().tiers`). `cause` is the backup's error.
 */
export class BackupWriteError extends TickstoreError {
  /** The keys the failed backup write named. */
  readonly keys: readonly string[];
  constructor(keys: readonly string[], cause: TickstoreError) {
    super('BACKUP_FAILED', keys.length === 0
      ? `the primary is durable, but the backup failed to flush: ${cause.message}`
      : `the primary holds the write of ${keys.length === 1 ? JSON.stringify(keys[0]) : `${keys.length} keys`}, but the backup failed: ${cause.message} (a repair is queued)`);
    this.keys = keys;
    this.cause = cause;
  }
}
