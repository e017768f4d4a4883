/**
 * tickstore's loggers: the `debug` package with `tickstore:*` namespaces, as
 * Colyseus logs under `colyseus:*`. Silent unless enabled, e.g.
 * `DEBUG=tickstore:* npm start`.
 *
 * Imported by both threads (the engine's lines are written to the engine
 * thread's stderr, which Node forwards to the process'), so this module must
 * import nothing but `debug`. Every log call sits off the hot path (open,
 * close, compaction, failures); a call that would format anything costly
 * checks `enabled` first.
 */
import createDebug from 'debug';

/** The main-thread facade: opens (with their recovery figures) and closes. */
export const storeLog = createDebug('tickstore:store');
/** The engine (worker thread; in-thread for the memory backend): recovery, lock refusals, compactions, flush failures and heals. */
export const engineLog = createDebug('tickstore:engine');
/** The Colyseus room plugin: rooms created and disposed, saves, refused setups and clients. */
export const pluginLog = createDebug('tickstore:plugin');
/** StoreRegistry: shared opens and the releases that close a store. */
export const registryLog = createDebug('tickstore:registry');

/** Milliseconds since `started` (a `performance.now()` reading), rounded to 0.1. */
export function msSince(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

/** An error for a log line: `CODE (SYSCALL): message`, e.g. `IO_ERROR (EIO): …`, `STORE_LOCKED: …`. */
export function describeError(err: unknown): string {
  const e = err as { code?: unknown; syscallCode?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : 'ERROR';
  const sys = typeof e?.syscallCode === 'string' && e.syscallCode !== code ? ` (${e.syscallCode})` : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return `${code}${sys}: ${message}`;
}
