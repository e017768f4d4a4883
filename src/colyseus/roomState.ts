import { createHash } from 'node:crypto';
import { logger, type Room } from '@colyseus/core';
import { Schema } from '@colyseus/schema';
import { buildKey } from '../buildKey.js';
import { InvalidArgumentError, LeaseHeldError, LeaseLostError, RoomStateHeldError, TickstoreError, describeValue } from '../errors.js';
import { guard, readOptions, wholeNumber } from '../input.js';
import type { BatchOp } from '../input.js';
import { MAX_LEASE_TTL_MS, type Lease } from '../lease.js';
import { pluginLog } from '../log.js';
import type { Store } from '../store.js';
import { jsonCodec, schemaCodec, type Codec } from './codecs.js';
import { decodeRecord, encodeRecord } from './envelope.js';
import { backoff, sameBytes, transient } from './fencedRetry.js';
import { perStore } from '../perStore.js';

/*
 * A room's own Schema state, kept across restarts and deploys under a
 * persistent id the room chooses (e.g. 'arena-1'): restored when a room with
 * that id is created, snapshotted on the room's clock (only when its encoding
 * changed) and once more at dispose, which graceful shutdown awaits.
 *
 * One room owns an id at a time: the holder of the id's lease (in-process on
 * the disk engine, shared by every process on Redis). Every snapshot is one
 * batch fenced by that lease, so a room that lost the id (a pause past the
 * ttl, another process took over after it seemed dead) writes nothing.
 *
 * Keys: the plugin-reserved funcId 0xfffffff5 with a 64-bit hash of the id as
 * the "user id" part — `buildKey(F, h, [0])` is the lease scope, `[1]` the
 * state, `[2]` a small meta record holding the id itself (a hash collision of
 * two ids is detected, never restored across), when and what was saved. All
 * three share the id's Redis Cluster slot, so the fenced batch is atomic
 * there too. No user key can collide: record specs may not use funcIds
 * >= 0xffffff00.
 */

const ROOM_STATE_FUNC = 0xffff_fff5;
/** The longest persistent id, in UTF-16 code units (it is stored in the meta record and in log lines). */
export const MAX_STATE_ID_LENGTH = 256;
const DEFAULT_EVERY_MS = 5_000;
/** Snapshots more often than this would encode the state on nearly every tick. */
const MIN_EVERY_MS = 100;
const DEFAULT_LEASE_TTL_MS = 10_000;
const MAX_HANDOFF_MS = 600_000;
/** Attempts of the final snapshot (same bytes, same fence: sending it again is safe) before it is given up. */
const FINAL_ATTEMPTS = 6;

/** Options of {@link StorePlugin.persistState}. */
export interface PersistStateOptions {
  /** The room's persistent id: a non-empty string of at most 256 characters (e.g. `'arena-1'`). A room created later with the same id gets this state. Required. */
  id: string;
  /** Snapshot the state every this many ms of the room's clock, when it changed (default 5000; 0: only at dispose; else 100..86400000). A crash loses at most about one interval. */
  everyMs?: number;
  /** The ttl of the id's lease, renewed every third of it (default 10000; 1000..86400000). On Redis, a crashed room's id is blocked this long. */
  leaseTtlMs?: number;
  /** How long `persistState` waits for another room holding the id to let go (its final snapshot), before it rejects (default: `leaseTtlMs`, so that on Redis a crashed process's lease lapses meanwhile; 0..600000). */
  handoffMs?: number;
}

/** What {@link StorePlugin.persistState} found. */
export interface RestoredState {
  /** Whether a saved state was restored into `room.state` (false: none was saved under this id; the room keeps the state it set). */
  restored: boolean;
  /** When the restored snapshot was written (ms since the epoch), or undefined. */
  savedAt: number | undefined;
  /** The restored snapshot's size in bytes (0 when none). */
  bytes: number;
}

/**
 * What room-state persistence did, counted per store in this process since it
 * was opened (see {@link roomStateMetrics}).
 */
export interface RoomStateMetrics {
  /** Rooms that restored a saved state. */
  restores: number;
  /** Rooms that found no saved state under their id. */
  freshStarts: number;
  /** Snapshots written (periodic and final), and their bytes. */
  snapshots: number;
  bytesWritten: number;
  /** Snapshot times at which the state's encoding had not changed since the last write: nothing written. */
  skippedUnchanged: number;
  /** Snapshot writes that failed (each attempt counts; the next snapshot writes the state again). */
  failures: number;
  /** Final snapshots given up after their retries: changes since the last snapshot are lost. */
  finalFailures: number;
  /** `persistState` calls refused because another room held the id. */
  refusals: number;
  /** Rooms whose lease on their id was lost: they stopped writing. */
  leaseLost: number;
}

const zero = (): RoomStateMetrics => ({
  restores: 0, freshStarts: 0, snapshots: 0, bytesWritten: 0, skippedUnchanged: 0, failures: 0, finalFailures: 0, refusals: 0, leaseLost: 0,
});
const countersOf = perStore(zero);

/**
 * A snapshot of the room-state counters for `store` (every room of this
 * process that persists its state in it).
 *
 * @param store The store the rooms use (e.g. `processStore()`).
 * @returns A copy of the counters.
 * @throws Never.
 *
 * @example
 * ```ts
 * const { snapshots, skippedUnchanged, bytesWritten, failures } = roomStateMetrics(processStore());
 * ```
 */
export function roomStateMetrics(store: Store): RoomStateMetrics {
  return { ...countersOf(store) };
}

/** @internal The keys of a persistent id: its lease scope, its state, its meta record. */
export function roomStateKeys(id: string): { scope: string; state: string; meta: string } {
  const hash = createHash('sha256').update(id, 'utf8').digest().readBigUInt64BE(0);
  return { scope: buildKey(ROOM_STATE_FUNC, hash, [0]), state: buildKey(ROOM_STATE_FUNC, hash, [1]), meta: buildKey(ROOM_STATE_FUNC, hash, [2]) };
}

/** @internal What is stored beside a snapshot. */
export interface SnapshotMeta {
  /** The persistent id itself (the key holds only its hash). */
  id: string;
  /** When it was written (ms since the epoch). */
  savedAt: number;
  /** 1 for the id's first snapshot, then one more per write. */
  seq: number;
  /** The state class's name, for the log when it does not decode. */
  type: string;
  /** The state record's size. */
  bytes: number;
}

const metaCodec: Codec<SnapshotMeta> = jsonCodec<SnapshotMeta>();

/** @internal Decodes a meta record (through the envelope) and checks its shape. */
export function readMeta(bytes: Uint8Array): SnapshotMeta {
  const m = decodeRecord(metaCodec, bytes);
  if (m === null || typeof m !== 'object' || typeof m.id !== 'string' || typeof m.savedAt !== 'number' || typeof m.seq !== 'number') {
    throw new InvalidArgumentError(`a room-state meta record must be { id, savedAt, seq, … }, got ${describeValue(m)}`);
  }
  return m;
}

/** Checked {@link PersistStateOptions}. */
interface Checked { id: string; everyMs: number; leaseTtlMs: number; handoffMs: number }

function checkOptions(o: unknown): Checked {
  const r = readOptions(o, 'persistState', ['id', 'everyMs', 'leaseTtlMs', 'handoffMs']);
  const id = r.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_STATE_ID_LENGTH || !id.isWellFormed()) {
    throw new InvalidArgumentError(`id must be a non-empty, well-formed string of at most ${MAX_STATE_ID_LENGTH} characters, got ${describeValue(id)}`);
  }
  const everyMs = r.everyMs === undefined ? DEFAULT_EVERY_MS : wholeNumber('everyMs', r.everyMs, 0, MAX_LEASE_TTL_MS);
  if (everyMs !== 0 && everyMs < MIN_EVERY_MS) throw new InvalidArgumentError(`everyMs must be 0 (only at dispose) or ${MIN_EVERY_MS}..${MAX_LEASE_TTL_MS}, got ${everyMs}`);
  const leaseTtlMs = r.leaseTtlMs === undefined ? DEFAULT_LEASE_TTL_MS : wholeNumber('leaseTtlMs', r.leaseTtlMs, 1000, MAX_LEASE_TTL_MS);
  const handoffMs = r.handoffMs === undefined ? Math.min(leaseTtlMs, MAX_HANDOFF_MS) : wholeNumber('handoffMs', r.handoffMs, 0, MAX_HANDOFF_MS);
  return { id, everyMs, leaseTtlMs, handoffMs };
}

/** The room's state class, from its current state (which must be a Schema instance). */
function stateClass(room: Room): new () => Schema {
  return guard('room.state', (m) => new InvalidArgumentError(m), () => {
    const state: unknown = room.state;
    if (!(state instanceof Schema)) {
      throw new InvalidArgumentError(`persistState needs the room's state set first (this.state = new MyState()), a @colyseus/schema instance; got ${describeValue(state)}`);
    }
    return state.constructor as new () => Schema;
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Takes the id's lease, waiting up to `handoffMs` for a holder to let go. */
async function acquire(store: Store, id: string, scope: string, o: Checked, gone: () => boolean): Promise<Lease> {
  const deadline = Date.now() + o.handoffMs;
  let delay = 10;
  for (;;) {
    try {
      return await store.lease(scope, { ttlMs: o.leaseTtlMs });
    } catch (err) {
      if (!(err instanceof LeaseHeldError)) throw err;
    }
    if (gone() || Date.now() >= deadline) throw new RoomStateHeldError(id, gone() ? 'the room was disposed while waiting for it' : `it did not let go within ${o.handoffMs} ms`);
    await sleep(delay * (0.5 + Math.random()));
    delay = Math.min(delay * 2, 200);
  }
}

/** A clock timer of the room (Colyseus' `Delayed`). */
interface Timer { clear(): void }

/**
 * @internal The persistence of one room's state (made by
 * `StorePlugin.persistState`): restore, periodic snapshots, the final one.
 */
export class RoomStateKeeper {
  private readonly o: Checked;
  private readonly keys: { scope: string; state: string; meta: string };
  private readonly counters: RoomStateMetrics;
  private codec: Codec<Schema> | undefined;
  private typeName = '';
  private lease: Lease | undefined;
  /** The bytes last written (or restored): a snapshot equal to them writes nothing. */
  private lastBytes: Uint8Array | undefined;
  private seq = 0;
  private timers: Timer[] = [];
  /** The write running, if any: writes never overlap, so they land in order. */
  private writing: Promise<void> | undefined;
  private starting: Promise<RestoredState> | undefined;
  /** False once closing or the lease was lost: no more writes start. */
  private live = false;
  private closed = false;

  /**
   * @throws {@link InvalidArgumentError} Bad options (see {@link PersistStateOptions}).
   */
  constructor(private readonly store: Store, private readonly room: Room, options: unknown) {
    this.o = checkOptions(options);
    this.keys = roomStateKeys(this.o.id);
    this.counters = countersOf(store);
  }

  get id(): string { return this.o.id; }

  /**
   * Takes the id, restores its saved state into `room.state` (a clone of the
   * decoded state, attached as the room's new state), then starts the
   * snapshots. Once only.
   */
  start(): Promise<RestoredState> {
    this.starting ??= this.run();
    return this.starting;
  }

  private async run(): Promise<RestoredState> {
    const type = stateClass(this.room);
    this.typeName = type.name;
    const codec = schemaCodec(type);
    this.codec = codec;
    let lease: Lease;
    try {
      lease = await acquire(this.store, this.o.id, this.keys.scope, this.o, () => this.closed);
    } catch (err) {
      if (err instanceof RoomStateHeldError) this.counters.refusals++;
      throw err;
    }
    this.lease = lease;
    let result: RestoredState;
    try {
      // Read after taking the lease: the previous holder wrote its final snapshot before letting go.
      const [stateBytes, metaBytes] = await this.store.transaction(async (tx) => [await tx.get(this.keys.state), await tx.get(this.keys.meta)] as const);
      result = this.restore(codec, stateBytes, metaBytes);
    } catch (err) {
      // Nothing restored, nothing written: the stored state stays as it was, for a fix (a migration, the previous build).
      this.lease = undefined;
      await lease.release().catch(() => false);
      throw err;
    }
    if (this.closed) {
      // Disposed while restoring: a room that never ran has nothing newer to save.
      this.lease = undefined;
      await lease.release().catch(() => false);
      return result;
    }
    this.live = true;
    if (this.o.everyMs > 0) this.timers.push(this.room.clock.setInterval(() => this.snapshot(), this.o.everyMs));
    this.timers.push(this.room.clock.setInterval(() => this.renew(), Math.floor(this.o.leaseTtlMs / 3)));
    pluginLog('room %s: state %s %s (token %d)', this.room.roomId, this.o.id, result.restored ? `restored (${result.bytes} bytes)` : 'fresh', lease.token);
    return result;
  }

  private restore(codec: Codec<Schema>, stateBytes: Uint8Array | undefined, metaBytes: Uint8Array | undefined): RestoredState {
    if (!stateBytes) {
      this.counters.freshStarts++;
      return { restored: false, savedAt: undefined, bytes: 0 };
    }
    const meta = metaBytes ? readMeta(metaBytes) : undefined;
    if (meta && meta.id !== this.o.id) {
      throw new InvalidArgumentError(`persistent id ${describeValue(this.o.id)} hashes like ${describeValue(meta.id)}, whose state is stored under the same key: choose another id`);
    }
    // decodeRecord refuses a snapshot of another schema (SchemaMismatchError): the room is not created, rather than run on garbage.
    const decoded = decodeRecord(codec, stateBytes);
    // A decoded instance carries decoder bookkeeping: the room gets a clean clone, and its serializer starts over on it.
    this.room.state = decoded.clone();
    this.lastBytes = stateBytes;
    this.seq = meta?.seq ?? 0;
    this.counters.restores++;
    return { restored: true, savedAt: meta?.savedAt, bytes: stateBytes.length };
  }

  /** The room's state now, encoded (through the envelope; the codec encodes a detached clone). */
  private encodeNow(): Uint8Array {
    return encodeRecord(this.codec!, this.room.state as Schema);
  }

  /** A periodic snapshot: skipped while the previous write runs (the next one writes the newer state). */
  private snapshot(): void {
    if (!this.live || this.writing) return;
    let bytes: Uint8Array;
    try {
      bytes = this.encodeNow();
    } catch (err) {
      this.counters.failures++;
      logger.warn(`tickstore: room '${this.room.roomName}' could not encode its state ${this.o.id}: ${(err as Error).message}`);
      return;
    }
    if (sameBytes(this.lastBytes, bytes)) { this.counters.skippedUnchanged++; return; }
    // Only one write at a time (this one, or close()'s after it), so clearing the slot when it ends is safe.
    this.writing = this.write(this.lease!, bytes, 1).catch((err: unknown) => this.failed(err, 'snapshot')).finally(() => { this.writing = undefined; });
  }

  /** Writes one snapshot, fenced by `lease` (always given: an unfenced write could overwrite a newer holder's state); `attempts` > 1 retries transient failures. */
  private async write(lease: Lease, bytes: Uint8Array, attempts: number): Promise<void> {
    const meta: SnapshotMeta = { id: this.o.id, savedAt: Date.now(), seq: this.seq + 1, type: this.typeName, bytes: bytes.length };
    const ops: BatchOp[] = [
      { type: 'put', key: this.keys.state, value: bytes },
      { type: 'put', key: this.keys.meta, value: encodeRecord(metaCodec, meta) },
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.batch(ops, { fence: lease });
        break;
      } catch (err) {
        this.counters.failures++;
        // An unknown outcome may have been applied: sending the same whole-state batch again under the same fence is safe either way.
        if (err instanceof LeaseLostError || !transient(err) || attempt >= attempts) throw err;
        await backoff(attempt);
      }
    }
    this.seq = meta.seq;
    this.lastBytes = bytes;
    this.counters.snapshots++;
    this.counters.bytesWritten += bytes.length;
  }

  private renew(): void {
    if (!this.live) return;
    this.lease!.renew().catch((err: unknown) => {
      // A transient failure: the next renewal (a third of the ttl later) tries again.
      if (err instanceof LeaseLostError) this.lost();
    });
  }

  private failed(err: unknown, what: string): void {
    if (err instanceof LeaseLostError) { this.lost(); return; }
    logger.warn(`tickstore: room '${this.room.roomName}' ${what} of state ${this.o.id} failed: ${(err as Error).message}`);
  }

  /** Another room holds the id now (this one paused past the ttl): stop writing; that room's state wins. */
  private lost(): void {
    if (!this.live) return;
    this.live = false;
    this.stopTimers();
    this.counters.leaseLost++;
    logger.error(`tickstore: room '${this.room.roomName}' (${this.room.roomId}) lost its hold on state ${this.o.id}: it is no longer saved`);
  }

  private stopTimers(): void {
    for (const t of this.timers) t.clear();
    this.timers = [];
  }

  /**
   * At dispose: the final snapshot (when the state changed since the last
   * one), then the id is let go so that the next room with it restores that
   * snapshot. A start still running finishes first.
   *
   * Never rejects: a failed final snapshot is logged and counted (nothing
   * else could report it).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    if (this.starting) await this.starting.catch(() => undefined);
    const wasLive = this.live;
    this.live = false;
    if (this.writing) await this.writing;
    const lease = this.lease;
    if (!lease) return;
    this.lease = undefined;
    try {
      if (!wasLive) return;
      const bytes = this.encodeNow();
      if (sameBytes(this.lastBytes, bytes)) { this.counters.skippedUnchanged++; return; }
      await this.write(lease, bytes, FINAL_ATTEMPTS);
    } catch (err) {
      if (err instanceof LeaseLostError) this.counters.leaseLost++;
      this.counters.finalFailures++;
      const why = err instanceof TickstoreError ? `${err.code}: ${err.message}` : (err as Error).message;
      logger.error(`tickstore: room '${this.room.roomName}' could not save its final state ${this.o.id} (${why}); changes since its last snapshot are lost`);
    } finally {
      await lease.release().catch(() => false);
    }
  }
}
