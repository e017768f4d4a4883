import { InvalidArgumentError, InvalidValueError, OutcomeUnknownError, TransactionConflictError, describeValue } from '../errors.js';
import { checkKey, checkValue } from '../input.js';
import { Store } from '../store.js';
import { checkCodec, msgpackCodec, type Codec } from './codecs.js';
import { resolveCodec } from './codecMeta.js';
import { decodeRecord, encodeRecord } from './envelope.js';
import { perStore } from '../perStore.js';

/*
 * Shared (world) values that many rooms update at once, without lost
 * updates. Each update is a read-modify-write inside one optimistic
 * transaction (Store.transaction): a concurrent commit to the key — from
 * another room of this process, or another process on Redis — makes the
 * attempt run again on the new value, so no increment is ever dropped.
 *
 * Updates to one key are combined in this process: while a commit for the
 * key is in flight, further updates wait, and the next commit applies all of
 * them in order in ONE transaction. N rooms bumping one counter then cost
 * about one commit per round trip instead of N commits that conflict with
 * each other; each caller still gets the value its own update produced.
 *
 * A commit whose answer was lost (OutcomeUnknownError) may have applied: it
 * is never run again; every update folded into it is rejected with that
 * error, so a caller never double-applies by mistake.
 */

/** How many attempts one combined commit gets (the first, then 63 re-runs after conflicts) before its updates reject with TransactionConflictError. */
export const SHARED_ATTEMPTS = 64;

/** The most updates folded into one commit; later ones wait for the next (bounds the work an attempt redoes after a conflict). */
export const MAX_SHARED_FOLD = 1024;

/**
 * What {@link updateShared} and {@link incrementShared} did with a store,
 * counted in this process since it opened (see {@link sharedStateMetrics}).
 */
export interface SharedStateMetrics {
  /** Updates that were applied (their transaction committed), each counted once however many updates shared its commit. */
  updates: number;
  /** Transactions that committed a write: with combining, far fewer than `updates` under contention. */
  commits: number;
  /** Attempts run again because a concurrent commit changed the key first (another process, or a write not made through these functions). */
  retries: number;
  /** Updates rejected, for any reason, after being accepted (bad arguments never count). */
  failures: number;
  /** Of those, rejected with TransactionConflictError: {@link SHARED_ATTEMPTS} attempts all met concurrent commits. */
  conflicts: number;
  /** Of those, rejected with OutcomeUnknownError: the commit may or may not have applied, and was not retried. */
  unknownOutcomes: number;
}

const zero = (): SharedStateMetrics => ({ updates: 0, commits: 0, retries: 0, failures: 0, conflicts: 0, unknownOutcomes: 0 });
const countersOf = perStore(zero);

/** One caller's update, waiting for (or inside) a combined commit. */
interface Queued {
  /** Runs the caller's fn once on the stored bytes: the new bytes and the caller's value. Throws what the fn or its codec threw. */
  apply(stored: Uint8Array | undefined): { bytes: Uint8Array; value: unknown };
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** What one update did in the latest attempt (kept only if that attempt commits). */
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Per store, per key: the updates waiting for the key's next commit. A key
 * is present exactly while its lane runs (a commit in flight or about to
 * start); the lane deletes it when nothing is left waiting.
 */
const lanesOf = perStore(() => new Map<string, Queued[]>());

function checkStore(store: unknown): Store {
  if (!(store instanceof Store)) throw new InvalidArgumentError(`store must be a Store (from openStore), got ${describeValue(store)}`);
  return store;
}

const isThenable = (v: unknown): boolean =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';

/**
 * Atomically replaces the shared value at `key` with `fn(current)`: a
 * read-modify-write in one transaction, run again on the newer value when
 * another room or process committed to the key first, so no concurrent
 * update is lost. Updates to one key from this process that arrive while a
 * commit for it is in flight are combined into the next commit (their fns
 * applied in arrival order); each caller gets the value its own fn returned.
 *
 * `fn` may run more than once (once per attempt) and must be synchronous and
 * free of other side effects. A throw from `fn` (or from `codec`) rejects
 * only its own caller, writes nothing for it, and leaves the other updates
 * of the commit alone. Values go through the plugin's record envelope, so
 * read them with `getShared` or {@link decodeRecord}.
 *
 * @param store The store (in a room: `this.plugins.store.store`, or use `this.plugins.store.updateShared`).
 * @param key The shared value's key (any valid key: see {@link MAX_KEY_BYTES}).
 * @param fn The new value from the current one (undefined when the key is absent).
 * @param codec How the value is stored (see {@link jsonCodec}, {@link msgpackCodec}, {@link schemaCodec}).
 * @returns The value this caller's `fn` returned, as committed.
 * @throws {@link InvalidArgumentError} (rejects) `store` is not a Store, `fn` not a function, `codec` not an object with `encode` and `decode` functions (or its metadata out of range), or `fn` returned a promise; nothing was written.
 * @throws {@link SchemaMismatchError} (rejects) The stored value does not fit `codec` (see {@link decodeRecord}); nothing was written for this caller.
 * @throws {@link InvalidKeyError} (rejects) `key` is not a valid key; nothing was written.
 * @throws {@link InvalidValueError} (rejects) The encoded value is not a Uint8Array within {@link MAX_VALUE_BYTES}; nothing was written for this caller.
 * @throws {@link TransactionConflictError} (rejects) {@link SHARED_ATTEMPTS} attempts in a row met concurrent commits; nothing was written.
 * @throws {@link OutcomeUnknownError} (rejects) The commit's answer was lost: it may have applied. Not retried; read the key to find out.
 * @throws {@link StoreClosedError} | {@link StoreUnavailableError} | {@link StoreIOError} (rejects) As {@link Store.transaction}.
 * @throws (rejects) Whatever `fn` or `codec` threw, on the committed value; nothing was written for this caller.
 *
 * @example
 * ```ts
 * const boss = await updateShared(store, 'world:boss', (b) => ({ hp: Math.max(0, (b?.hp ?? 1000) - damage) }), jsonCodec<{ hp: number }>());
 * if (boss.hp === 0) this.broadcast('boss-down');
 * ```
 */
export async function updateShared<T>(store: Store, key: string, fn: (current: T | undefined) => T, codec: Codec<T>): Promise<T> {
  const s = checkStore(store);
  checkKey(key);
  if (typeof fn !== 'function') throw new InvalidArgumentError(`updateShared needs a function, got ${describeValue(fn)}`);
  const c = checkCodec(codec) as Codec<T>;
  // Its envelope metadata (kind, version, migrations) too, so a bad one fails here rather than inside the commit.
  resolveCodec(c);
  return new Promise<T>((resolve, reject) => {
    enqueue(s, key, {
      apply(stored) {
        const next = fn(stored === undefined ? undefined : decodeRecord(c, stored, key));
        // An async fn would commit a promise's encoding; refuse it rather than store garbage.
        if (isThenable(next)) throw new InvalidArgumentError('updateShared: fn returned a promise; it must return the new value synchronously');
        return { bytes: checkValue(encodeRecord(c, next)), value: next };
      },
      resolve: (v) => resolve(v as T),
      reject,
    });
  });
}

function enqueue(store: Store, key: string, update: Queued): void {
  const lanes = lanesOf(store);
  const waiting = lanes.get(key);
  if (waiting) { waiting.push(update); return; }
  lanes.set(key, [update]);
  // Start on a microtask: updates issued in the same synchronous run (one tick of many rooms) share the first commit too.
  const l = lanes;
  queueMicrotask(() => { void runLane(store, key, l); });
}

/** Commits the key's waiting updates, a fold at a time, until none are left. */
async function runLane(store: Store, key: string, lanes: Map<string, Queued[]>): Promise<void> {
  for (;;) {
    const waiting = lanes.get(key)!;
    if (waiting.length === 0) { lanes.delete(key); return; }
    const fold = waiting.splice(0, MAX_SHARED_FOLD);
    await commitFold(store, key, fold);
  }
}

/** One combined commit: every update of `fold` applied in order in one transaction; settles each of them. Never rejects. */
async function commitFold(store: Store, key: string, fold: Queued[]): Promise<void> {
  const m = countersOf(store);
  let attempts = 0;
  let outcomes: Outcome[] = [];
  let wrote = false;
  try {
    await store.transaction(async (tx) => {
      attempts++;
      let bytes = await tx.get(key);
      const initial = bytes;
      outcomes = fold.map((u) => {
        try {
          const r = u.apply(bytes);
          bytes = r.bytes;
          return { ok: true, value: r.value };
        } catch (error) {
          return { ok: false, error };
        }
      });
      wrote = bytes !== initial;
      if (bytes !== undefined && wrote) tx.put(key, bytes);
    }, { retries: SHARED_ATTEMPTS - 1 });
  } catch (err) {
    m.retries += Math.max(0, attempts - 1);
    m.failures += fold.length;
    if (err instanceof TransactionConflictError) m.conflicts += fold.length;
    if (err instanceof OutcomeUnknownError) m.unknownOutcomes += fold.length;
    for (const u of fold) u.reject(err);
    return;
  }
  m.retries += attempts - 1;
  if (wrote) m.commits++;
  fold.forEach((u, i) => {
    const o = outcomes[i]!;
    if (o.ok) { m.updates++; u.resolve(o.value); } else { m.failures++; u.reject(o.error); }
  });
}

/** A counter is a MessagePack integer (what `msgpackCodec<number>()` writes, so an existing counter keeps its value). */
const counterBytes = msgpackCodec<number>();

/**
 * The codec of {@link incrementShared}'s counters: a safe integer, as
 * MessagePack (the same records as `msgpackCodec<number>()`: kind, version
 * and bytes). Read one with `getShared(key, sharedCounterCodec)` or
 * `decodeRecord(sharedCounterCodec, bytes)`.
 *
 * @throws {@link InvalidValueError} `encode` of anything but a safe integer; `decode` of bytes that hold anything else (through `decodeRecord`: a {@link SchemaMismatchError}).
 *
 * @example
 * ```ts
 * const total = (await this.plugins.store.getShared('world:counter', sharedCounterCodec)) ?? 0;
 * ```
 */
export const sharedCounterCodec: Codec<number> = {
  ...counterBytes,
  encode(v) {
    if (!Number.isSafeInteger(v)) throw new InvalidValueError(`a shared counter must be a safe integer, got ${describeValue(v)}`);
    return counterBytes.encode(v);
  },
  decode(b) {
    const v: unknown = counterBytes.decode(b);
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new InvalidValueError(`the stored value is not a shared counter (a safe integer): ${describeValue(v)}`);
    return v;
  },
};

/**
 * Atomically adds `delta` to the shared counter at `key` (absent: 0) and
 * returns the counter's new value, without losing concurrent increments
 * from other rooms or processes (see {@link updateShared}: concurrent
 * increments of one key in this process share one commit). Stored with
 * {@link sharedCounterCodec}.
 *
 * @param delta A safe integer, negative to decrement (default 1).
 * @returns The counter's value right after this increment (so concurrent callers adding 1 each get a different value).
 * @throws {@link InvalidArgumentError} (rejects) `delta` is not a safe integer, `store` not a Store, or the sum would leave the safe-integer range; nothing was written.
 * @throws {@link InvalidKeyError} (rejects) `key` is not a valid key; nothing was written.
 * @throws {@link SchemaMismatchError} (rejects) The key holds something that is not a counter; nothing was written.
 * @throws {@link TransactionConflictError} | {@link OutcomeUnknownError} | {@link StoreClosedError} | {@link StoreUnavailableError} | {@link StoreIOError} (rejects) As {@link updateShared}.
 *
 * @example
 * ```ts
 * this.onMessage('bump', async (client) => {
 *   client.send('count', await incrementShared(store, 'world:counter'));
 * });
 * ```
 */
export async function incrementShared(store: Store, key: string, delta = 1): Promise<number> {
  if (!Number.isSafeInteger(delta)) throw new InvalidArgumentError(`delta must be a safe integer, got ${describeValue(delta)}`);
  return updateShared(store, key, (n) => {
    const sum = (n ?? 0) + delta;
    if (!Number.isSafeInteger(sum)) throw new InvalidArgumentError(`adding ${delta} to the counter ${key} (${n ?? 0}) would leave the safe-integer range; nothing was written`);
    return sum;
  }, sharedCounterCodec);
}

/**
 * A snapshot of the shared-state counters for `store` (every room of this
 * process that uses it).
 *
 * @throws {@link InvalidArgumentError} `store` is not a Store.
 *
 * @example
 * ```ts
 * const { updates, commits, retries } = sharedStateMetrics(processStore());
 * console.log(`${updates} updates in ${commits} commits (${retries} retries)`);
 * ```
 */
export function sharedStateMetrics(store: Store): SharedStateMetrics {
  return { ...countersOf(checkStore(store)) };
}
