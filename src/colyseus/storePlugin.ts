import { ErrorCode, RoomPlugin, ServerError, logger, type Client } from '@colyseus/core';
import { buildKey, keyPrefix } from '../buildKey.js';
import { InvalidArgumentError, InvalidConfigError, describeValue } from '../errors.js';
import { guard, optionalBoolean, optionalFunction, readOptions } from '../input.js';
import { pluginLog } from '../log.js';
import { Store } from '../store.js';
import type { StoreChange, Ticker, TickerOptions, WatchTarget } from '../ticker.js';
import type { Codec } from './codecs.js';
import { processStore } from './processStore.js';

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
  /** The record's function id: a u32 (0..2^32-1), the first part of its key (see {@link buildKey}). Required. */
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
}

interface Tracked {
  key: string;
  codec: Codec<unknown>;
  value: unknown;
}

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

const configError = (m: string): InvalidConfigError => new InvalidConfigError(m);
const argError = (m: string): InvalidArgumentError => new InvalidArgumentError(m);

/** The plugin's options, read once by property access and checked, so that a mistake fails at `new StorePlugin()`, not in a room. */
function checkPluginOptions(o: unknown): StorePluginOptions {
  const r = readOptions(o, 'StorePlugin', ['store', 'userId', 'onResult', 'requireUserId'], configError);
  if (r.store !== undefined && !(r.store instanceof Store)) throw new InvalidConfigError(`store must be a Store (from openStore), got ${describeValue(r.store)}`);
  return {
    store: r.store,
    userId: optionalFunction<StorePluginOptions['userId']>('userId', r.userId, configError),
    onResult: optionalFunction<StorePluginOptions['onResult']>('onResult', r.onResult, configError),
    requireUserId: optionalBoolean('requireUserId', r.requireUserId, configError),
  };
}

/** Checks a codec: an object with `encode` and `decode` functions. */
function checkCodec(codec: unknown): Codec<unknown> {
  return guard('the codec', argError, () => {
    const c = codec as Partial<Codec<unknown>> | null;
    if (c === null || typeof c !== 'object' || typeof c.encode !== 'function' || typeof c.decode !== 'function') {
      throw new InvalidArgumentError(`codec must be an object with encode and decode functions, got ${describeValue(codec)}`);
    }
    return c as Codec<unknown>;
  });
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
 *     this.plugins.store.set(client, inventorySpec, live);   // saved on leave
 *   }
 * }
 * ```
 *
 * Each room gets its own ticker, pumped by `room.clock.setInterval(…, 0)`,
 * which fires on every clock tick whatever loop the room runs (a timestep,
 * a fixed timestep, or none): results and watched changes arrive inside the
 * room's tick, and none arrive after the room is disposed.
 *
 * Player records are keyed by the authenticated identity (`client.auth`),
 * loaded with `load()` (in onJoin), and saved when the player leaves (this
 * plugin's onLeave runs after the room's, i.e. after any reconnection
 * window), when the room is disposed, and so at server shutdown.
 *
 * A room whose store cannot be found (no process store open, and no `store`
 * option) fails to be created: the server logs what to call, the client gets
 * a generic refusal. Unless `requireUserId` is false, a client whose
 * `client.auth` gives no user id is refused at join the same way.
 */
export class StorePlugin extends RoomPlugin {
  override readonly pluginName = 'store' as const;
  private tickerRef: Ticker | undefined;
  private readonly tracked = new Map<string, Tracked[]>();

  private readonly opts: StorePluginOptions;

  /**
   * @param opts The store, how to derive the user id, and more (see {@link StorePluginOptions}); all optional.
   * @throws {@link InvalidConfigError} An unknown option, or one of the wrong type (a `store` that is not a Store, a `userId` or `onResult` that is not a function, a non-boolean `requireUserId`).
   */
  constructor(opts?: StorePluginOptions) {
    super();
    this.opts = checkPluginOptions(opts);
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

  protected override onCreate(): void {
    let ticker: Ticker;
    try {
      ticker = this.ticker;
    } catch (err) {
      // A setup mistake: the developer reads the server log, the client gets a generic refusal.
      logger.error(`tickstore: room '${this.room.roomName}' uses StorePlugin but ${(err as Error).message}`);
      throw new ServerError(ErrorCode.MATCHMAKE_UNHANDLED, UNAVAILABLE);
    }
    this.room.clock.setInterval(() => ticker.tick(), 0);
    pluginLog('room %s (%s) created', this.room.roomId, this.room.roomName);
  }

  protected override onJoin(client: Client): void {
    if (this.opts.requireUserId === false) return;
    try {
      keyPrefix(0, (this.opts.userId ?? defaultUserId)(client.auth));
    } catch (err) {
      const why = (err as Error).message;
      logger.error(`tickstore: room '${this.room.roomName}' refused client ${client.sessionId}: ${why}${why.includes(FIX_USER_ID) ? '' : ` (client.auth.userId): ${FIX_USER_ID}`}`);
      throw new ServerError(ErrorCode.AUTH_FAILED, NOT_AUTHORIZED);
    }
  }

  /**
   * The key of a player's record: `buildKey(funcId, userId, params)`, with the
   * user id from `client.auth`, never from anything the client sent.
   *
   * @throws {@link InvalidArgumentError} `client.auth` gives no user id, or an id or param is out of range (see {@link buildKey}).
   */
  keyOf(client: Client, funcId: number, params: readonly (number | bigint)[] = []): string {
    const auth = guard('client.auth', argError, () => client.auth);
    return buildKey(funcId, (this.opts.userId ?? defaultUserId)(auth), params);
  }

  /**
   * Loads a player's record (or `spec.initial()`) and keeps it for saving:
   * mutate the returned value freely; it is written back on leave, on
   * dispose, or when you call `save(client)`. Loading the same record again
   * replaces what is kept for it. Call it in `onJoin`.
   *
   * @returns The decoded record (a fresh value; see {@link schemaCodec} for schema state), or `spec.initial()`.
   * @throws {@link InvalidArgumentError} (rejects) No user id in `client.auth`, a bad `funcId`/`params`, or a spec without a codec (`encode`, `decode`) or an `initial` function.
   * @throws {@link StoreClosedError} | {@link StoreIOError} | {@link CorruptionError} (rejects) As {@link Store.get}; or whatever `spec.codec.decode` throws.
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
    const bytes = await this.store.get(key);
    const value = bytes ? codec.decode(bytes) as T : initial();
    const list = this.tracked.get(client.sessionId) ?? [];
    const at = list.findIndex((t) => t.key === key);
    const entry: Tracked = { key, codec, value };
    if (at >= 0) list[at] = entry; else list.push(entry);
    this.tracked.set(client.sessionId, list);
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
    const t = this.tracked.get(client.sessionId)?.find((x) => x.key === key);
    if (!t) throw new InvalidArgumentError(`record ${key} was not loaded for this client`);
    t.value = value;
  }

  /**
   * Writes every record loaded for `client` now; resolves once they are
   * acknowledged (per the store's flush policy: durable under the default,
   * immediate one). The records stay kept, and are saved again on leave.
   *
   * @throws {@link StoreClosedError} | {@link StoreIOError} (rejects) As {@link Store.put}; or whatever a codec's `encode` throws.
   */
  async save(client: Client): Promise<void> {
    await this.saveTracked(this.tracked.get(client.sessionId) ?? []);
  }

  private async saveTracked(list: Tracked[]): Promise<void> {
    await Promise.all(list.map((t) => this.store.put(t.key, t.codec.encode(t.value))));
  }

  /**
   * Reads a shared (world) value: any key, decoded with `codec`.
   *
   * @returns The value, or undefined when the key is absent.
   * @throws {@link InvalidKeyError} | {@link StoreClosedError} | {@link StoreIOError} | {@link CorruptionError} (rejects) As {@link Store.get}.
   *
   * @example
   * ```ts
   * this.state.counter = (await this.plugins.store.getShared(WORLD_COUNTER, counterCodec)) ?? 0;
   * ```
   */
  async getShared<T>(key: string, codec: Codec<T>): Promise<T | undefined> {
    const c = checkCodec(codec);
    const bytes = await this.store.get(key);
    return bytes ? c.decode(bytes) as T : undefined;
  }

  /**
   * Writes a shared (world) value; rooms watching it are told on their own
   * tick. Resolves once the write is acknowledged.
   *
   * @throws {@link InvalidKeyError} | {@link InvalidValueError} | {@link StoreClosedError} | {@link StoreIOError} (rejects) As {@link Store.put}.
   *
   * @example
   * ```ts
   * await this.plugins.store.setShared(WORLD_COUNTER, this.state.counter + 1, counterCodec);
   * ```
   */
  async setShared<T>(key: string, value: T, codec: Codec<T>): Promise<void> {
    await this.store.put(key, checkCodec(codec).encode(value));
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
   *   this.state.counter = change.value ? counterCodec.decode(change.value) : 0;
   * });
   * ```
   */
  watch(target: WatchTarget, onChange: (change: StoreChange) => void): () => void {
    return this.ticker.watch(target, onChange);
  }

  protected override async onLeave(client: Client): Promise<void> {
    const list = this.tracked.get(client.sessionId);
    this.tracked.delete(client.sessionId);
    if (!list) return;
    const started = Date.now();
    await this.saveTracked(list);
    pluginLog('room %s saved %d record(s) of client %s on leave in %d ms', this.room.roomId, list.length, client.sessionId, Date.now() - started);
  }

  protected override async onDispose(): Promise<void> {
    const all = [...this.tracked.values()].flat();
    this.tracked.clear();
    this.tickerRef?.dispose();
    const started = Date.now();
    await this.saveTracked(all);
    pluginLog('room %s disposed; saved %d record(s) in %d ms', this.room.roomId, all.length, Date.now() - started);
  }
}
