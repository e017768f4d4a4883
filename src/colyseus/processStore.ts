import { resolve } from 'node:path';
import type { Server } from '@colyseus/core';
import { InvalidConfigError, StoreClosedError } from '../errors.js';
import { checkOptions, type StoreOptions } from '../config.js';
import { openStore } from '../index.js';
import type { Store } from '../store.js';

/*
 * One store per process, shared by every room: open it before the server
 * listens, close it (everything issued finishes first) at graceful shutdown.
 *
 * Kept on globalThis under a registered symbol, not in module variables: an
 * app that loads tickstore both as ESM and as CommonJS (its own code imports
 * it, a CommonJS dependency requires it) runs two copies of this module, and
 * both must see the one store — a second store on the same directory would
 * be refused by its lock.
 */
interface ProcessSlot {
  store: Store | undefined;
  /** The open in progress, so that concurrent callers share it. */
  opening: Promise<Store> | undefined;
  dir: string | undefined;
}
const SLOT = Symbol.for('tickstore.processStore');
const slot: ProcessSlot = ((globalThis as { [SLOT]?: ProcessSlot })[SLOT] ??= { store: undefined, opening: undefined, dir: undefined });

const NOT_OPEN = 'no tickstore process store is open: call attachStore(server, { dir }) before server.listen() '
  + '(or await openProcessStore({ dir }) before it), or pass { store } to new StorePlugin()';

/**
 * Opens the process's store (or returns it, when already open or opening on
 * the same `dir`). Rejects with InvalidConfigError when one is open on
 * another directory, and with whatever {@link openStore} rejects with.
 *
 * @param options As {@link openStore} (see {@link StoreOptions}).
 * @throws {@link InvalidConfigError} (rejects) A process store is already open on another directory, or bad options.
 * @throws {@link StoreLockedError} | {@link CorruptionError} | {@link StoreIOError} (rejects) As {@link openStore}.
 *
 * @example
 * ```ts
 * // One store per process, open before the server listens.
 * const store = await openProcessStore({ dir });
 * ```
 */
export async function openProcessStore(options: StoreOptions): Promise<Store> {
  // Read (getters, prototypes) and checked once; the store opens with the plain result.
  const { dir: given, backend, tunables } = checkOptions(options);
  const dir = resolve(given);
  if (slot.store?.isClosed) slot.store = undefined;
  if (slot.store || slot.opening) {
    if (dir !== slot.dir) throw new InvalidConfigError(`a process store is already open on ${slot.dir}`);
    return slot.store ?? slot.opening!;
  }
  const opening = openStore({ ...tunables, dir: given, backend });
  slot.opening = opening;
  slot.dir = dir;
  try {
    slot.store = await opening;
    return slot.store;
  } catch (err) {
    slot.dir = undefined;
    throw err;
  } finally {
    slot.opening = undefined;
  }
}

/**
 * The process's store.
 *
 * @throws {@link StoreClosedError} None is open (the message says what to call).
 */
export function processStore(): Store {
  if (!slot.store || slot.store.isClosed) throw new StoreClosedError(NOT_OPEN);
  return slot.store;
}

/** Whether a process store is open. */
export function hasProcessStore(): boolean {
  return slot.store !== undefined && !slot.store.isClosed;
}

/**
 * Closes the process's store (a no-op when none is open); waits for an open
 * in progress first. Everything already issued finishes first (see
 * {@link Store.close}). {@link closeStoreOnShutdown} calls it for you.
 *
 * @throws {@link StoreIOError} (rejects) Closing the engine failed.
 */
export async function closeProcessStore(): Promise<void> {
  if (slot.opening) await slot.opening.catch(() => undefined);
  const s = slot.store;
  slot.store = undefined;
  slot.dir = undefined;
  if (s) await s.close();
}

/** @inline */
type ShutdownCallback = () => void | Promise<unknown>;
const CLOSES_STORE = Symbol.for('tickstore.closesStoreOnShutdown');

/**
 * Makes the server close the process store at graceful shutdown, after every
 * room has been disposed (and has saved) and after `then` and the server's
 * own `onShutdown` callback.
 *
 * Colyseus 0.18's `Server.onShutdown` keeps one callback, the last one
 * registered. This keeps a callback registered before it, and any
 * `server.onShutdown(fn)` call after it runs `fn` first instead of
 * replacing the close. Calling it twice on one server registers once.
 *
 * @param server The Colyseus server.
 * @param then Your own shutdown work (optional), run before the store closes; the store closes even if it throws.
 *
 * @example
 * ```ts
 * // Runs after every room is disposed (and has saved); then the store closes.
 * closeStoreOnShutdown(server, () => log('rooms disposed; closing the store'));
 * await server.listen(port);
 * ```
 */
export function closeStoreOnShutdown(server: Server, then?: ShutdownCallback): void {
  const marked = server as Server & { [CLOSES_STORE]?: { user: ShutdownCallback[] } };
  if (marked[CLOSES_STORE]) {
    if (then) marked[CLOSES_STORE].user.push(then);
    return;
  }
  // Protected in core's types; read once so a callback registered earlier still runs.
  const earlier = (server as unknown as { onShutdownCallback?: ShutdownCallback }).onShutdownCallback;
  const state = { user: [earlier, then].filter((f): f is ShutdownCallback => typeof f === 'function') };
  marked[CLOSES_STORE] = state;
  const register = server.onShutdown.bind(server);
  register(async () => {
    try {
      for (const fn of state.user) await fn();
    } finally {
      await closeProcessStore();
    }
  });
  // Later registrations join the chain instead of dropping the close.
  server.onShutdown = (callback: ShutdownCallback) => { state.user = [callback]; };
}

/** What Colyseus' `ServerOptions.database` takes (structural, like core's own type). */
interface DatabaseHook {
  boot(): Promise<void>;
  shutdown?(): Promise<void>;
  applyRouterDefaults?(router: never): unknown;
}

/**
 * Wires the process store into a Colyseus server, once: the store opens when
 * the server boots — through Colyseus' `database` hook, inside
 * `server.listen()`, before any room can be created, so a bad `dir` or a
 * directory locked by another process fails the listen, at startup — and
 * closes at graceful shutdown, after every room has saved (see
 * {@link closeStoreOnShutdown}). A `database` already set (e.g.
 * `@colyseus/database`) boots first and is kept.
 *
 * Works with `new Server(...)`, `defineServer(...)`, and `@colyseus/tools`
 * (`initializeGameServer: (server) => attachStore(server, { dir })`) and so
 * with `@colyseus/testing`'s `boot()`.
 *
 * @param server The Colyseus server, before `listen()`.
 * @param options As {@link openStore} (see {@link StoreOptions}); checked when the server boots.
 * @throws The listen rejects with the open's error: {@link InvalidConfigError}, {@link StoreLockedError}, {@link CorruptionError} or {@link StoreIOError} (see {@link openProcessStore}).
 *
 * @example
 * ```ts
 * const server = new Server({ transport: new WebSocketTransport() });
 * attachStore(server, { dir: './data' });
 * server.define('inventory', InventoryRoom);
 * await server.listen(2567);   // opens the store first
 * ```
 */
export function attachStore(server: Server, options: StoreOptions): void {
  const prior = server.options.database as DatabaseHook | undefined;
  const hook: DatabaseHook = {
    async boot() {
      await prior?.boot();
      await openProcessStore(options);
    },
    async shutdown() {
      await closeProcessStore();
      await prior?.shutdown?.();
    },
  };
  if (prior?.applyRouterDefaults) hook.applyRouterDefaults = prior.applyRouterDefaults.bind(prior);
  server.options.database = hook as NonNullable<typeof server.options.database>;
  closeStoreOnShutdown(server);
}
