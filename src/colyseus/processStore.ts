import type { Server } from '@colyseus/core';
import { InvalidConfigError, StoreClosedError } from '../errors.js';
import type { StoreOptions } from '../config.js';
import { openStore } from '../index.js';
import type { Store } from '../store.js';

/*
 * One store per process, shared by every room: open it before the server
 * listens, close it (everything issued finishes first) at graceful shutdown.
 */

let shared: Store | undefined;
let sharedDir: string | undefined;

/** Opens the process's store (or returns it, when already open on the same `dir`). */
export async function openProcessStore(options: StoreOptions): Promise<Store> {
  if (shared && !shared.isClosed) {
    if (options.dir !== sharedDir) throw new InvalidConfigError(`a process store is already open on ${sharedDir}`);
    return shared;
  }
  const store = await openStore(options);
  shared = store;
  sharedDir = options.dir;
  return store;
}

/** The process's store; StoreClosedError when none is open. */
export function processStore(): Store {
  if (!shared || shared.isClosed) throw new StoreClosedError('no process store is open: call openProcessStore() before the server listens');
  return shared;
}

/** Closes the process's store (a no-op when none is open). */
export async function closeProcessStore(): Promise<void> {
  const s = shared;
  shared = undefined;
  sharedDir = undefined;
  if (s) await s.close();
}

/**
 * Registers the server's shutdown callback so that it runs `then` (your own
 * shutdown work, if any) and then closes the process store. Colyseus 0.18's
 * `Server.onShutdown` keeps only the last callback registered, so register
 * through this, once, instead of calling `onShutdown` yourself. It runs after
 * every room has been disposed — after every room's final save.
 */
export function closeStoreOnShutdown(server: Server, then?: () => void | Promise<unknown>): void {
  server.onShutdown(async () => {
    try {
      if (then) await then();
    } finally {
      await closeProcessStore();
    }
  });
}
