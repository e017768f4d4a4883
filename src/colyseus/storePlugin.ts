import { randomUUID } from 'node:crypto';
import { ClientState, ErrorCode, RoomPlugin, ServerError, logger, type Client } from '@colyseus/core';
import { buildKey, keyPrefix } from '../buildKey.js';
import { InvalidArgumentError, InvalidConfigError, LeaseLostError, SessionRefusedError, describeValue } from '../errors.js';
import { guard, optionalBoolean, optionalFunction, readOptions, wholeNumber } from '../input.js';
import { MAX_LEASE_TTL_MS } from '../lease.js';
import { pluginLog } from '../log.js';
import { Store } from '../store.js';
import type { StoreChange, Ticker, TickerOptions, WatchTarget } from '../ticker.js';
import { Autosave, type SessionDuties } from './autosave.js';
import { checkCodec, type Codec } from './codecs.js';
import { decodeRecord, encodeRecord } from './envelope.js';
import { RESERVED_FUNC_IDS, acquireOwnership, controlKey, ownerScope, requestNonce, type OwnershipOptions, type SecondSessionPolicy } from './ownership.js';
import { countersOf, type PlayerMetrics } from './playerMetrics.js';
import { PlayerSession } from './playerSession.js';
import { processStore } from './processStore.js';
import { consume, grant, trade, wallet, type AssetsInput, type Receipt, type TradeRequest, type Wallet } from '../economy/index.js';
import { RoomStateKeeper, type PersistStateOptions, type RestoredState } from './roomState.js';
import { incrementShared, updateShared } from './sharedState.js';

/**
 * A player record: which key (from the player's identity), how to encode it,
 * its value when new. The key is `buildKey(funcId, userId, params)`, with the
 * user id from `client.auth` (see {@link StorePluginOptions.userId}).
 *
 * @example
 * ```ts
 * export const inventorySpec: RecordSpec<Inventory> = {
 *   funcId: INVENTORY,
 *   codec: schemaCodec(Inventory),
 *   initial: () => new Inventory(),
 * };
 * ```
 */
export interface RecordSpec<T> {
  /** The record's function id: 0..0xfffffeff (the plugin reserves 0xffffff00 and up), the first part of its key (see {@link buildKey}). Required. */
  funcId: number;
  /** Up to 32 u64 params, the last part of its key (default none). */
  params?: readonly (number | bigint)[];
  /** How the value is stored (see {@link jsonCodec}, {@link msgpackCodec}, {@link schemaCodec}). Required. */
  codec: Codec<T>;
  /** The value for a player with no saved record. Required. */
  initial: () => T;
}

/** Options of `new StorePlugin(options)`; all optional. */
export interface StorePluginOptions {
  /** The store; default: the process store ({@link attachStore} or {@link openProcessStore}), looked up when the room is created. */
  store?: Store;
  /**
   * Derives the user id — a u64 (0..2^64-1), as a bigint or a safe-integer number — from `client.auth`.
   * Default: `auth.userId` (a number or bigint; anything else is an {@link InvalidArgumentError}).
   * Never from client messages.
   */
  userId?: (auth: unknown) => number | bigint;
  /** Called for each result of this room's ticker ops, inside the room's tick (default: none — results queue for `ticker.poll()`). */
  onResult?: TickerOptions['onResult'];
  /**
   * Refuse a client whose `client.auth` gives no user id (default: true).
   * The refusal is logged on the server with what to fix; the client only
   * learns that it was not authorized. Set false for a room that keeps no
   * player records (only shared ones) and admits anonymous clients.
   */
  requireUserId?: boolean;
  /**
   * What a second session of a player (another tab, a reconnect that lands
   * in another room or process) does while the first one owns the player's
   * records (default `'takeover'`):
   * - `'takeover'`: the first session is saved, given up and its client
   *   closed with {@link StoreCloseCode.TAKEN_OVER}; the newcomer then loads
   *   that final save. A first session that died (its process killed) is
   *   taken over once its lease lapses (`leaseTtlMs`).
   * - `'refuse'`: the newcomer's `load()` rejects with
   *   {@link SessionRefusedError} (after waiting `handoffMs` for a first
   *   session that is leaving).
   */
  secondSession?: SecondSessionPolicy;
  /**
   * Saves each player's changed records every this many ms (default 30000;
   * 0: only explicit saves, leave and dispose). Sessions save at random
   * phases, at most a few per tick; an unchanged player writes nothing.
   * A crash loses at most one interval of progress.
   */
  autosaveMs?: number;
  /** The ttl of a player's ownership lease, renewed every third of it (default 10000; 1000..86400000). A dead owner blocks its player this long. */
  leaseTtlMs?: number;
  /** How long a second session waits for the first to hand over (default 3000; 0..600000). */
  handoffMs?: number;
}

/**
 * The WebSocket close codes the plugin closes a client with (a code the SDK
 * does not auto-reconnect on).
 */
export const StoreCloseCode = {
  /** A newer session of the same player took over its records (they were saved first). */
  TAKEN_OVER: 4100,
  /** The session lost ownership of its records (a pause past the lease's ttl, the store unreachable): changes since its last save were not saved. */
  OWNERSHIP_LOST: 4101,
} as const;

const DEFAULT_AUTOSAVE_MS = 30_000;
const DEFAULT_LEASE_TTL_MS = 10_000;
const DEFAULT_HANDOFF_MS = 3_000;
/** After a failed renewal, try again this soon (the lease still has two thirds of its ttl). */
const RENEW_RETRY_MS = 500;

const FIX_USER_ID = 'return { userId } (a whole number 0..2^64-1) from the room\'s onAuth, '
  + 'or pass a userId function to new StorePlugin({ userId: (auth) => ... })';
const NO_USER_ID = `client.auth has no numeric userId: ${FIX_USER_ID}`;

function defaultUserId(auth: unknown): number | bigint {
  const id = (auth as { userId?: unknown } | null | undefined)?.userId;
  if (typeof id !== 'number' && typeof id !== 'bigint') throw new InvalidArgumentError(NO_USER_ID);
  return id;
}

/** What a client is told when the room cannot serve it: nothing about the server's insides. */
const UNAVAILABLE = 'room unavailable';
const NOT_AUTHORIZED = 'not authorized';

const closeReason = (code: number): string => (code === StoreCloseCode.TAKEN_OVER ? 'signed in elsewhere' : 'session lost');

const configError = (m: string): InvalidConfigError => new InvalidConfigError(m);
const argError = (m: string): InvalidArgumentError => new InvalidArgumentError(m);

/** The plugin's options, read once by property access and checked, so that a mistake fails at `new StorePlugin()`, not in a room. */
function checkPluginOptions(o: unknown): StorePluginOptions & { autosaveMs: number; ownership: OwnershipOptions } {
  const r = readOptions(o, 'StorePlugin', ['store', 'userId', 'onResult', 'requireUserId', 'secondSession', 'autosaveMs', 'leaseTtlMs', 'handoffMs'], configError);
  if (r.store !== undefined && !(r.store instanceof Store)) throw new InvalidConfigError(`store must be a Store (from openStore), got ${describeValue(r.store)}`);
  const policy = r.secondSession ?? 'takeover';
  if (policy !== 'takeover' && policy !== 'refuse') throw new InvalidConfigError(`secondSession must be 'takeover' or 'refuse', got ${describeValue(policy)}`);
  return {
    store: r.store,
    userId: optionalFunction<StorePluginOptions['userId']>('userId', r.userId, configError),
    onResult: optionalFunction<StorePluginOptions['onResult']>('onResult', r.onResult, configError),
    requireUserId: optionalBoolean('requireUserId', r.requireUserId, configError),
    autosaveMs: r.autosaveMs === undefined ? DEFAULT_AUTOSAVE_MS : wholeNumber('autosaveMs', r.autosaveMs, 0, MAX_LEASE_TTL_MS, configError),
    ownership: {
      policy,
      ttlMs: r.leaseTtlMs === undefined ? DEFAULT_LEASE_TTL_MS : wholeNumber('leaseTtlMs', r.leaseTtlMs, 1000, MAX_LEASE_TTL_MS, configError),
      handoffMs: r.handoffMs === undefined ? DEFAULT_HANDOFF_MS : wholeNumber('handoffMs', r.handoffMs, 0, 600_000, configError),
    },
  };
}

/** Reads a record spec's key parts (a full RecordSpec may be passed: its other fields are not looked at). */
function keyParts(spec: unknown): { funcId: number; params: readonly (number | bigint)[] | undefined } {
  return guard('the record spec', argError, () => {
    if (spec === null || typeof spec !== 'object') throw new InvalidArgumentError(`a record spec must be an object, got ${describeValue(spec)}`);
    const s = spec as { funcId: number; params?: readonly (number | bigint)[] };
    return { funcId: s.funcId, params: s.params };
  });
}

/**
 * tickstore as a Colyseus 0.18 room plugin (`pluginName: 'store'`, so
 * `this.plugins.store` in the room):
 *
 * ```ts
 * class MyRoom extends Room {
 *   override plugins = definePlugins([new StorePlugin()]);
 *
 *   override async onJoin(client: Client): Promise<void> {
 *     const saved = await this.plugins.store.load(client, inventorySpec);
 *     const live = saved.clone();
 *     this.state.players.set(client.sessionId, live);
 *     this.plugins.store.set(client, inventorySpec, live);   // autosaved, saved on leave
 *   }
 * }
 * ```
 *
 * Each room gets its own ticker, pumped by `room.clock.setInterval(…, 0)`,
 * which fires on every clock tick whatever loop the room runs (a timestep,
 * a fixed timestep, or none): results and watched changes arrive inside the
 * room's tick, and none arrive after the room is disposed.
 *
 * Player records are keyed by the authenticated identity (`client.auth`)
 * and owned by one session at a time: a player's first `load()` takes the
 * player's lease (in this process on the disk engine, across processes on
 * Redis), waiting for or taking over another session per `secondSession`,
 * so that it always loads the previous session's final save. Every save
 * writes the records that changed, in one atomic batch fenced by that lease:
 * a session that lost ownership writes nothing. Records are autosaved every
 * `autosaveMs`, and saved once more when the player leaves (this plugin's
 * onLeave runs after the room's, i.e. after any reconnection window: a
 * player who reconnects keeps the session), when the room is disposed, and
 * so at server shutdown.
 *
 * A room whose store cannot be found (no process store open, and no `store`
 * option) fails to be created: the server logs what to call, the client gets
 * a generic refusal. Unless `requireUserId` is false, a client whose
 * `client.auth` gives no user id is refused at join the same way.
 */
export class StorePlugin extends RoomPlugin {
  override readonly pluginName = 'store' as const;
  private tickerRef: Ticker | undefined;
  /** Owned sessions by client session id; a closed one stays until its client leaves, so its saves keep failing. */
  private readonly sessions = new Map<string, PlayerSession>();
  /** Clients whose first load is waiting for ownership. */
  private readonly joining = new Map<string, { owned: Promise<PlayerSession>; gone: boolean }>();
  /** Sessions being closed outside leave and dispose (a takeover), which dispose waits for. */
  private readonly closing = new Set<Promise<void>>();
  /** Clients whose session ended while their socket was down (a reconnection window): closed with this code if they come back. */
  private readonly evicted = new Map<string, number>();
  private disposed = false;
  /** The persistence of the room's own state, once `persistState` was called. */
  private roomState: RoomStateKeeper | undefined;
  private readonly autosave: Autosave;
  private readonly duties: SessionDuties;

  private readonly opts: ReturnType<typeof checkPluginOptions>;

  /**
   * @param opts The store, how to derive the user id, the second-session policy, autosave, and more (see {@link StorePluginOptions}); all optional.
   * @throws {@link InvalidConfigError} An unknown option, or one of the wrong type or range (a `store` that is not a Store, a `userId` or `onResult` that is not a function, a non-boolean `requireUserId`, a `secondSession` other than 'takeover' or 'refuse', an `autosaveMs`, `leaseTtlMs` or `handoffMs` out of range).
   */
  constructor(opts?: StorePluginOptions) {
    super();
    this.opts = checkPluginOptions(opts);
    this.autosave = new Autosave(this.opts.autosaveMs, Math.floor(this.opts.ownership.ttlMs / 3));
    this.duties = {
      autosave: (session) => { session.save('auto').catch((err: unknown) => this.saveFailed(session, err, 'autosave')); },
      renew: (session) => {
        session.lease.renew().catch((err: unknown) => {
          if (err instanceof LeaseLostError) this.endSession(session, 'lost');
          else if (session.open) { session.renewAt = Date.now() + RENEW_RETRY_MS; this.autosave.wake(); }
        });
      },
    };
  }

  /**
   * The store rooms share: the `store` option, else the process store.
   *
   * @throws {@link StoreClosedError} No `store` option and no process store is open.
   */
  get store(): Store {
    return this.opts.store ?? processStore();
  }

  /**
   * This room's ticker, pumped on every clock tick of the room: its ops'
   * results (to `onResult`, else for `ticker.poll()`) and watched changes are
   * delivered in the room's tick. Disposed with the room.
   *
   * @throws {@link StoreClosedError} No store (see {@link StorePlugin.store}).
   */
  get ticker(): Ticker {
    if (!this.tickerRef) {
      this.tickerRef = this.store.ticker(this.opts.onResult ? { onResult: this.opts.onResult } : {});
    }
    return this.tickerRef;
  }

  /** The player-record counters of this room's store (every room of this process using it; see {@link playerMetrics}). */
  get metrics(): PlayerMetrics {
    return { ...countersOf(this.store) };
  }

  protected override onCreate(): void {
    let ticker: Ticker;
    try {
      ticker = this.ticker;
    } catch (err) {
      // A setup mistake: the developer reads the server log, the client gets a generic refusal.
      logger.error(`tickstore: room '${this.room.roomName}' uses StorePlugin but ${(err as Error).message}`);
      throw new ServerError(ErrorCode.MATCHMAKE_UNHANDLED, UNAVAILABLE);
    }
    this.room.clock.setInterval(() => {
      ticker.tick();
      this.autosave.tick(Date.now(), this.sessions, this.duties);
      if (this.evicted.size > 0) this.closeEvicted();
    }, 0);
    pluginLog('room %s (%s) created', this.room.roomId, this.room.roomName);
  }

  protected override onJoin(client: Client): void {
    if (this.opts.requireUserId === false) return;
    try {
      keyPrefix(0, this.userIdOf(client));
    } catch (err) {
      const why = (err as Error).message;
      logger.error(`tickstore: room '${this.room.roomName}' refused client ${client.sessionId}: ${why}${why.includes(FIX_USER_ID) ? '' : ` (client.auth.userId): ${FIX_USER_ID}`}`);
      throw new ServerError(ErrorCode.AUTH_FAILED, NOT_AUTHORIZED);
    }
  }

  private userIdOf(client: Client): number | bigint {
    const auth = guard('client.auth', argError, () => client.auth);
    return (this.opts.userId ?? defaultUserId)(auth);
  }

  /**
   * The key of a player's record: `buildKey(funcId, userId, params)`, with the
   * user id from `client.auth`, never from anything the client sent.
   *
   * @throws {@link InvalidArgumentError} `client.auth` gives no user id, or an id or param is out of range (see {@link buildKey}).
   */
  keyOf(client: Client, funcId: number, params: readonly (number | bigint)[] = []): string {
    return buildKey(funcId, this.userIdOf(client), params);
  }

  /**
   * Loads a player's record (or `spec.initial()`) and keeps it for saving:
   * mutate the returned value freely (or hand another with {@link
   * StorePlugin.set}); it is autosaved, and saved on leave, on dispose, or
   * when you call `save(client)`. Loading the same record again replaces
   * what is kept for it. Call it in `onJoin`.
   *
   * The player's first load makes this session the owner of the player's
   * records (see {@link StorePluginOptions.secondSession}), and reads from
   * the source of truth, so it sees the previous session's final save.
   *
   * @returns The decoded record (a fresh value; see {@link schemaCodec} for schema state), or `spec.initial()`.
   * @throws {@link InvalidArgumentError} (rejects) No user id in `client.auth`, a bad or reserved `funcId`, bad `params`, or a spec without a codec (`encode`, `decode`) or an `initial` function.
   * @throws {@link SessionRefusedError} (rejects) Another session owns the player and did not hand over (policy `'refuse'`, or not in time), or the client left meanwhile.
   * @throws {@link LeaseLostError} (rejects) This session already lost ownership (taken over).
   * @throws {@link StoreClosedError} | {@link StoreIOError} | {@link CorruptionError} | {@link StoreUnavailableError} (rejects) As {@link Store.transaction}; or whatever decoding the record throws.
   * @throws {@link SchemaMismatchError} (rejects) The stored record was written with another definition and no migration applies, by newer code, or is garbled (see docs/records.md); nothing is kept or written for it.
   *
   * @example
   * ```ts
   * const saved = await this.plugins.store.load(client, inventorySpec);
   * ```
   */
  async load<T>(client: Client, spec: RecordSpec<T>): Promise<T> {
    const r = readOptions(spec, 'record spec', ['funcId', 'params', 'codec', 'initial']);
    const codec = checkCodec(r.codec);
    const initial = optionalFunction<() => T>('initial', r.initial);
    if (!initial) throw new InvalidArgumentError('a record spec needs an initial function');
    const key = this.keyOf(client, r.funcId as number, r.params as RecordSpec<T>['params']);
    if ((r.funcId as number) >= RESERVED_FUNC_IDS) throw new InvalidArgumentError(`funcId ${describeValue(r.funcId)} is reserved by the plugin (record specs use 0..${RESERVED_FUNC_IDS - 1})`);
    const session = await this.ownedSession(client);
    const bytes = await this.store.transaction((tx) => tx.get(key));
    const value = bytes ? decodeRecord(codec, bytes, key) as T : initial();
    session.keep(key, codec, value, bytes);
    countersOf(this.store).loads++;
    return value;
  }

  /**
   * Replaces the value kept for one of the player's records (e.g. an
   * immutable update, or a clone attached to the room state): that value is
   * what is saved from now on.
   *
   * @throws {@link InvalidArgumentError} The record was not loaded (with {@link StorePlugin.load}) for this client, or no user id in `client.auth`.
   *
   * @example
   * ```ts
   * this.plugins.store.set(client, inventorySpec, live);
   * ```
   */
  set<T>(client: Client, spec: Pick<RecordSpec<T>, 'funcId' | 'params'>, value: T): void {
    const { funcId, params } = keyParts(spec);
    const key = this.keyOf(client, funcId, params);
    if (!this.sessions.get(client.sessionId)?.set(key, value)) throw new InvalidArgumentError(`record ${key} was not loaded for this client`);
  }

  /**
   * Writes the client's records that changed since their last save now, in
   * one atomic batch fenced by the session's ownership; resolves once it is
   * acknowledged (per the store's flush policy: durable under the default,
   * immediate one). The records stay kept, and are saved again on leave.
   *
   * @throws {@link LeaseLostError} (rejects) This session no longer owns the player (taken over, or its lease lapsed): nothing was written.
   * @throws {@link StoreClosedError} | {@link StoreIOError} | {@link StoreUnavailableError} | {@link OutcomeUnknownError} (rejects) As {@link Store.batch}, after a retry; or whatever a codec's `encode` throws.
   */
  async save(client: Client): Promise<void> {
    const session = this.sessions.get(client.sessionId);
    if (!session) return;
    if (!session.open) throw new LeaseLostError(session.lease.scope, `user ${session.userId}'s records are owned by another session now; nothing was written`);
    try {
      await session.save('explicit');
    } catch (err) {
      this.saveFailed(session, err, 'save');
      throw err;
    }
  }

  /** This client's session, owning its player: the one it has, or a new one once ownership is won. */
  private ownedSession(client: Client): Promise<PlayerSession> {
    const id = client.sessionId;
    const had = this.sessions.get(id);
    if (had) {
      return had.open ? Promise.resolve(had)
        : Promise.reject(new LeaseLostError(had.lease.scope, `user ${had.userId}'s records are owned by another session now`));
    }
    const waiting = this.joining.get(id);
    if (waiting) return waiting.owned;
    const entry = { owned: undefined as unknown as Promise<PlayerSession>, gone: false };
    entry.owned = this.becomeOwner(client, entry).finally(() => this.joining.delete(id));
    this.joining.set(id, entry);
    return entry.owned;
  }

  private async becomeOwner(client: Client, entry: { gone: boolean }): Promise<PlayerSession> {
    const userId = BigInt(this.userIdOf(client));
    const nonce = randomUUID();
    const counters = countersOf(this.store);
    const gone = (): boolean => entry.gone || this.disposed;
    let lease;
    try {
      lease = await acquireOwnership(this.store, userId, nonce, this.opts.ownership, gone);
      if (gone()) {
        await lease.release().catch(() => false);
        throw new SessionRefusedError(userId, `user ${userId} left while waiting for its records`);
      }
    } catch (err) {
      if (err instanceof SessionRefusedError) counters.refusals++;
      throw err;
    }
    const now = Date.now();
    let session: PlayerSession | undefined;
    // A newer session of this player asks for its records by writing its nonce here.
    const stopWatch = this.ticker.watch({ key: controlKey(userId) }, (change) => {
      const asker = requestNonce(change.value);
      if (session && asker !== undefined && asker !== nonce) this.takeoverAsked(session);
    });
    session = new PlayerSession(this.store, client.sessionId, lease, userId, nonce, counters, stopWatch,
      this.autosave.firstSaveAt(now), now + this.autosave.renewMs);
    this.sessions.set(client.sessionId, session);
    counters.sessions++;
    this.autosave.wake();
    pluginLog('room %s: client %s owns user %s (token %d)', this.room.roomId, client.sessionId, userId, lease.token);
    return session;
  }

  /**
   * A takeover request was seen. A change can reach this room's tick late
   * (a slow tick, queued notices), after the newcomer gave up and withdrew
   * it: hand over only if a request from another session still stands.
   */
  private takeoverAsked(session: PlayerSession): void {
    this.store.get(controlKey(session.userId)).then((current) => {
      const asker = requestNonce(current);
      if (asker !== undefined && asker !== session.nonce) this.endSession(session, 'takeover');
    }, (err: unknown) => {
      // Unreadable now: the newcomer re-asks every 2 s, and each request is looked at again.
      pluginLog('room %s: takeover request for user %s unreadable: %s', this.room.roomId, session.userId, (err as Error).message);
    });
  }

  /**
   * Ends a session that must stop owning its player: for a takeover after a
   * final save (the newcomer then loads it), for a lost lease without one;
   * then closes its client. The session stays (closed) until its client
   * leaves, so that its saves fail instead of silently doing nothing.
   */
  private endSession(session: PlayerSession, why: 'takeover' | 'lost'): void {
    if (!session.open || this.sessions.get(session.sessionId) !== session) return;
    const counters = countersOf(this.store);
    const done = this.closeSession(session, why === 'takeover', why).then(() => {
      if (why === 'takeover') counters.takeovers++; else counters.leaseLost++;
      const code = why === 'takeover' ? StoreCloseCode.TAKEN_OVER : StoreCloseCode.OWNERSHIP_LOST;
      const client = this.room.clients.getById(session.sessionId);
      if (client) client.leave(code, closeReason(code));
      else this.evicted.set(session.sessionId, code);   // in a reconnection window: closed if it comes back
    });
    this.closing.add(done);
    void done.finally(() => this.closing.delete(done));
  }

  /** Closes the clients that came back (reconnected) to a session that ended while they were away. */
  private closeEvicted(): void {
    for (const [id, code] of this.evicted) {
      const client = this.room.clients.getById(id);
      if (client) {
        this.evicted.delete(id);
        client.leave(code, closeReason(code));
      }
    }
  }

  /** Closes a session (final save unless `save` is false, then its lease is given up); a failed final save is logged, as nothing else can report it. */
  private async closeSession(session: PlayerSession, save: boolean, why: string): Promise<void> {
    const started = Date.now();
    try {
      await session.close(save);
      pluginLog('room %s: user %s session ended (%s) in %d ms', this.room.roomId, session.userId, why, Date.now() - started);
    } catch (err) {
      logger.error(`tickstore: room '${this.room.roomName}' could not save user ${session.userId}'s records (${why}): ${(err as Error).message}; changes since their last save are lost`);
    }
  }

  /** A save that failed: a lost lease ends the session; anything else is logged (the next save retries). */
  private saveFailed(session: PlayerSession, err: unknown, what: string): void {
    if (err instanceof LeaseLostError) this.endSession(session, 'lost');
    else if (what === 'autosave') logger.warn(`tickstore: room '${this.room.roomName}' autosave of user ${session.userId} failed: ${(err as Error).message}`);
  }

  /**
   * Reads a shared (world) value: any key, decoded with `codec`.
   *
   * @returns The value, or undefined when the key is absent.
   * @throws {@link InvalidKeyError} | {@link StoreClosedError} | {@link StoreIOError} | {@link CorruptionError} (rejects) As {@link Store.get}.
   * @throws {@link SchemaMismatchError} (rejects) The stored value does not fit `codec` (see {@link decodeRecord}).
   *
   * @example
   * ```ts
   * this.state.counter = (await this.plugins.store.getShared(WORLD_COUNTER, sharedCounterCodec)) ?? 0;
   * ```
   */
  async getShared<T>(key: string, codec: Codec<T>): Promise<T | undefined> {
    const c = checkCodec(codec);
    const bytes = await this.store.get(key);
    return bytes ? decodeRecord(c, bytes, key) as T : undefined;
  }

  /**
   * Writes a shared (world) value; rooms watching it are told on their own
   * tick. Resolves once the write is acknowledged.
   *
   * @throws {@link InvalidKeyError} | {@link InvalidValueError} | {@link StoreClosedError} | {@link StoreIOError} (rejects) As {@link Store.put}.
   *
   * @example
   * ```ts
   * await this.plugins.store.setShared('world:config', { motd: 'hello' }, configCodec);   // a blind write: use updateShared to change a value from its current one
   * ```
   */
  async setShared<T>(key: string, value: T, codec: Codec<T>): Promise<void> {
    await this.store.put(key, encodeRecord(checkCodec(codec) as Codec<T>, value));
  }

  /**
   * Atomically replaces a shared (world) value with `fn(current)`, without
   * losing concurrent updates from other rooms or processes: a
   * read-modify-write transaction, run again on the newer value after a
   * conflict; updates to one key in this process are combined into one
   * commit (see {@link updateShared}). `fn` may run more than once: keep it
   * synchronous and free of side effects.
   *
   * @returns The value this call's `fn` returned, as committed.
   * @throws {@link InvalidArgumentError} | {@link InvalidKeyError} (rejects) A bad key, `fn` or codec; nothing was written.
   * @throws {@link TransactionConflictError} (rejects) Every attempt ({@link SHARED_ATTEMPTS}) met a concurrent commit; nothing was written.
   * @throws {@link OutcomeUnknownError} (rejects) The commit's answer was lost; it may have applied and was not retried.
   * @throws {@link StoreClosedError} | {@link StoreUnavailableError} | {@link StoreIOError} (rejects) As {@link Store.transaction}; or whatever `fn` threw.
   *
   * @example
   * ```ts
   * const boss = await this.plugins.store.updateShared('world:boss', (b) => ({ hp: Math.max(0, (b?.hp ?? 1000) - 10) }), bossCodec);
   * ```
   */
  async updateShared<T>(key: string, fn: (current: T | undefined) => T, codec: Codec<T>): Promise<T> {
    return updateShared(this.store, key, fn, codec);
  }

  /**
   * Atomically adds `delta` (a safe integer, default 1) to a shared counter
   * (absent: 0) and resolves to its new value; concurrent increments from
   * any room or process are never lost (see {@link incrementShared}). Read
   * it with `getShared(key, sharedCounterCodec)`.
   *
   * @returns The counter right after this increment.
   * @throws {@link InvalidArgumentError} (rejects) `delta` is not a safe integer, or the sum would leave the safe-integer range; nothing was written.
   * @throws {@link InvalidKeyError} | {@link SchemaMismatchError} (rejects) A bad key, or the key holds something that is not a counter; nothing was written.
   * @throws {@link TransactionConflictError} | {@link OutcomeUnknownError} | {@link StoreClosedError} (rejects) As {@link StorePlugin.updateShared}.
   *
   * @example
   * ```ts
   * this.onMessage('bump', async () => { await this.plugins.store.incrementShared(WORLD_COUNTER); });
   * ```
   */
  async incrementShared(key: string, delta?: number): Promise<number> {
    return incrementShared(this.store, key, delta);
  }

  /**
   * The client's player's wallet (coins and item counts; see docs/economy.md), as committed now.
   *
   * @throws {@link InvalidArgumentError} (rejects) No user id in `client.auth`.
   * @throws {@link StoreClosedError} | {@link StoreIOError} | {@link SchemaMismatchError} (rejects) As {@link wallet}.
   *
   * @example
   * ```ts
   * const { coins } = await this.plugins.store.wallet(client);
   * ```
   */
  async wallet(client: Client): Promise<Wallet> {
    return wallet(this.store, this.userIdOf(client));
  }

  /**
   * Gives the client's player assets, once per idempotency key (see {@link grant}).
   *
   * @throws {@link InvalidArgumentError} | {@link IdempotencyConflictError} | {@link OutcomeUnknownError} (rejects) As {@link grant}: after an unknown outcome, retry with the same key.
   *
   * @example
   * ```ts
   * await this.plugins.store.grant(client, { coins: 100 }, `starter:${client.auth.userId}`);
   * ```
   */
  async grant(client: Client, assets: AssetsInput, idempotencyKey: string): Promise<Receipt> {
    return grant(this.store, this.userIdOf(client), assets, idempotencyKey);
  }

  /**
   * Takes assets from the client's player, once per idempotency key (see {@link consume}).
   *
   * @throws {@link InsufficientAssetsError} | {@link InvalidArgumentError} | {@link IdempotencyConflictError} | {@link OutcomeUnknownError} (rejects) As {@link consume}.
   *
   * @example
   * ```ts
   * await this.plugins.store.consume(client, { items: { potion: 1 } }, requestId);
   * ```
   */
  async consume(client: Client, assets: AssetsInput, idempotencyKey: string): Promise<Receipt> {
    return consume(this.store, this.userIdOf(client), assets, idempotencyKey);
  }

  /**
   * One atomic trade between two players, applied once per idempotency key, with a ledger entry (see {@link trade}).
   *
   * @throws {@link InsufficientAssetsError} | {@link InvalidArgumentError} | {@link IdempotencyConflictError} | {@link OutcomeUnknownError} (rejects) As {@link trade}.
   *
   * @example
   * ```ts
   * await this.plugins.store.trade({ a: alice, b: bob, aGives: { coins: 10 }, bGives: { items: { sword: 1 } } }, offerKey);
   * ```
   */
  async trade(request: TradeRequest, idempotencyKey: string): Promise<Receipt> {
    return trade(this.store, request, idempotencyKey);
  }

  /**
   * Calls `onChange` on this room's tick for every committed write (from any
   * room) to the key or under the prefix; stops when the room is disposed.
   *
   * @returns A function that stops this watch.
   * @throws {@link InvalidKeyError} | {@link StoreClosedError} As {@link Ticker.watch}.
   *
   * @example
   * ```ts
   * this.plugins.store.watch({ key: WORLD_COUNTER }, (change) => {
   *   this.state.counter = change.value ? decodeRecord(sharedCounterCodec, change.value, WORLD_COUNTER) : 0;
   * });
   * ```
   */
  watch(target: WatchTarget, onChange: (change: StoreChange) => void): () => void {
    return this.ticker.watch(target, onChange);
  }

  /**
   * Keeps this room's state across restarts and deploys under a persistent
   * id: restores the state last saved under `id` into `this.state` (a clone
   * of the decoded state becomes the room's state, so read `this.state`
   * after this resolves: an object taken from it before is no longer the
   * room's), then snapshots the state every `everyMs` of the room's clock
   * when its encoding changed, and once more when the room is disposed —
   * which a graceful shutdown (SIGTERM) awaits before the store closes.
   * Call it once, in `onCreate`, after setting `this.state` and before any
   * client joins.
   *
   * One room holds an id at a time (a lease; across processes on Redis):
   * a second room with the id waits `handoffMs` for the first to let go
   * (its final snapshot), then rejects; every snapshot is fenced by the
   * lease, so a room that lost the id writes nothing. A crash loses what
   * changed since the last periodic snapshot.
   *
   * A stored snapshot that does not decode with the room's state class (a
   * schema changed incompatibly: SchemaMismatchError) rejects, and so fails
   * the room's creation: nothing is restored, nothing is overwritten, the id
   * is let go — fix the schema (or add a migration) and create it again.
   *
   * @param options The persistent id and the snapshot interval (see {@link PersistStateOptions}).
   * @returns Whether a saved state was restored, when it was saved, its size.
   * @throws {@link InvalidArgumentError} (rejects) Bad options, `this.state` not a Schema instance, a second call in this room, clients already joined, or an id whose hash collides with another stored id's.
   * @throws {@link RoomStateHeldError} (rejects) Another room holds the id and did not let go within `handoffMs`.
   * @throws {@link StoreClosedError} | {@link StoreIOError} | {@link CorruptionError} | {@link StoreUnavailableError} (rejects) As {@link Store.transaction} and {@link Store.lease}; or what decoding the snapshot throws (SchemaMismatchError).
   *
   * @example
   * ```ts
   * override async onCreate(options: { arena: string }): Promise<void> {
   *   this.state = new ArenaState();
   *   await this.plugins.store.persistState({ id: `arena:${options.arena}`, everyMs: 5000 });
   * }
   * ```
   */
  async persistState(options: PersistStateOptions): Promise<RestoredState> {
    const keeper = new RoomStateKeeper(this.store, this.room, options);
    if (this.roomState) throw new InvalidArgumentError(`persistState was already called in this room (id ${describeValue(this.roomState.id)})`);
    if (this.room.clients.length > 0) throw new InvalidArgumentError('persistState must be called in onCreate, before clients join: replacing the state of a room with clients would desynchronize them');
    this.roomState = keeper;
    return keeper.start();
  }

  protected override async onLeave(client: Client): Promise<void> {
    // Reconnected within the room's own onLeave (allowReconnection there): still its session.
    if (client.state === ClientState.RECONNECTED) return;
    const id = client.sessionId;
    this.evicted.delete(id);
    const waiting = this.joining.get(id);
    if (waiting) waiting.gone = true;
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    if (session.open) await this.closeSession(session, true, 'leave');
  }

  protected override async onDispose(): Promise<void> {
    this.disposed = true;
    this.tickerRef?.dispose();
    const open = [...this.sessions.values()].filter((s) => s.open);
    this.sessions.clear();
    const started = Date.now();
    await Promise.all([...open.map((s) => this.closeSession(s, true, 'dispose')), ...this.closing, this.roomState?.close()]);
    pluginLog('room %s disposed; saved %d session(s) in %d ms', this.room.roomId, open.length, Date.now() - started);
  }
}
