import { ErrorCode, RoomPlugin, ServerError, logger, type Client } from '@colyseus/core';
import { buildKey, keyPrefix } from '../buildKey.js';
import { InvalidArgumentError } from '../errors.js';
import { pluginLog } from '../log.js';
import type { Store } from '../store.js';
import type { StoreChange, Ticker, TickerOptions, WatchTarget } from '../ticker.js';
import type { Codec } from './codecs.js';
import { processStore } from './processStore.js';

/** A player record: which key (from the player's identity), how to encode it, its value when new. */
export interface RecordSpec<T> {
  funcId: number;
  params?: readonly (number | bigint)[];
  codec: Codec<T>;
  /** The value for a player with no saved record. */
  initial: () => T;
}

export interface StorePluginOptions {
  /** The store; default: the process store (`openProcessStore`). */
  store?: Store;
  /** Derives the user id from `client.auth` (default: `auth.userId`). Never from client messages. */
  userId?: (auth: unknown) => number | bigint;
  /** Results of this room's ticker ops, inside the room's tick. */
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

const NO_USER_ID = 'client.auth has no numeric userId (a whole number 0..2^64-1): return { userId } from the room\'s onAuth, '
  + 'or pass a userId function to new StorePlugin({ userId: (auth) => ... })';

function defaultUserId(auth: unknown): number | bigint {
  const id = (auth as { userId?: unknown } | null | undefined)?.userId;
  if (typeof id !== 'number' && typeof id !== 'bigint') throw new InvalidArgumentError(NO_USER_ID);
  return id;
}

/** What a client is told when the room cannot serve it: nothing about the server's insides. */
const UNAVAILABLE = 'room unavailable';
const NOT_AUTHORIZED = 'not authorized';

/**
 * tickstore as a Colyseus 0.18 room plugin (`pluginName: 'store'`):
 *
 *     class MyRoom extends Room {
 *       plugins = definePlugins([new StorePlugin()]);
 *     }
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
 */
export class StorePlugin extends RoomPlugin {
  override readonly pluginName = 'store' as const;
  private tickerRef: Ticker | undefined;
  private readonly tracked = new Map<string, Tracked[]>();

  constructor(private readonly opts: StorePluginOptions = {}) {
    super();
  }

  /** The store rooms share. */
  get store(): Store {
    return this.opts.store ?? processStore();
  }

  /** This room's ticker (its ops' results are delivered in the room's tick). */
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
      logger.error(`tickstore: room '${this.room.roomName}' refused client ${client.sessionId}: ${(err as Error).message}`);
      throw new ServerError(ErrorCode.AUTH_FAILED, NOT_AUTHORIZED);
    }
  }

  /** The key of a player's record: from `client.auth`, never from anything the client sent. */
  keyOf(client: Client, funcId: number, params: readonly (number | bigint)[] = []): string {
    return buildKey(funcId, (this.opts.userId ?? defaultUserId)(client.auth), params);
  }

  /**
   * Loads a player's record (or `spec.initial()`) and keeps it for saving:
   * mutate the returned value freely; it is written back on leave, on
   * dispose, or when you call `save(client)`.
   */
  async load<T>(client: Client, spec: RecordSpec<T>): Promise<T> {
    const key = this.keyOf(client, spec.funcId, spec.params);
    const bytes = await this.store.get(key);
    const value = bytes ? spec.codec.decode(bytes) : spec.initial();
    const list = this.tracked.get(client.sessionId) ?? [];
    const at = list.findIndex((t) => t.key === key);
    const entry: Tracked = { key, codec: spec.codec as Codec<unknown>, value };
    if (at >= 0) list[at] = entry; else list.push(entry);
    this.tracked.set(client.sessionId, list);
    return value;
  }

  /** Replaces the value kept for one of the player's records (e.g. an immutable update). */
  set<T>(client: Client, spec: Pick<RecordSpec<T>, 'funcId' | 'params'>, value: T): void {
    const key = this.keyOf(client, spec.funcId, spec.params);
    const t = this.tracked.get(client.sessionId)?.find((x) => x.key === key);
    if (!t) throw new InvalidArgumentError(`record ${key} was not loaded for this client`);
    t.value = value;
  }

  /** Writes every record loaded for `client` now (durable when it resolves). */
  async save(client: Client): Promise<void> {
    await this.saveTracked(this.tracked.get(client.sessionId) ?? []);
  }

  private async saveTracked(list: Tracked[]): Promise<void> {
    await Promise.all(list.map((t) => this.store.put(t.key, t.codec.encode(t.value))));
  }

  /** Reads a shared (world) value. */
  async getShared<T>(key: string, codec: Codec<T>): Promise<T | undefined> {
    const bytes = await this.store.get(key);
    return bytes ? codec.decode(bytes) : undefined;
  }

  /** Writes a shared (world) value; rooms watching it are told on their own tick. */
  async setShared<T>(key: string, value: T, codec: Codec<T>): Promise<void> {
    await this.store.put(key, codec.encode(value));
  }

  /** Calls `onChange` on this room's tick for every committed write to the key or under the prefix. */
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
