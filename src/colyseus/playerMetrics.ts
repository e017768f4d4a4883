import type { Store } from '../store.js';
import { perStore } from '../perStore.js';

/**
 * What the room plugin did with player records, counted per store in this
 * process since it was opened (see {@link playerMetrics}).
 */
export interface PlayerMetrics {
  /** Sessions that became their player's owner. */
  sessions: number;
  /** Records loaded. */
  loads: number;
  /** Saves that wrote (one atomic batch each): explicit, autosaves and final ones. */
  saves: number;
  /** Of those, autosaves. */
  autosaves: number;
  /** Saves that found nothing changed since the last one, and wrote nothing. */
  skippedClean: number;
  /** Records written by those saves, and their bytes. */
  recordsWritten: number;
  bytesWritten: number;
  /** Save attempts that failed (each retry counts; a save that finally succeeds also counts in `saves`). */
  saveFailures: number;
  /** Final saves (on leave, dispose, takeover) given up after their retries: that progress is lost. */
  finalSaveFailures: number;
  /** Owners that handed over to a newer session of their player. */
  takeovers: number;
  /** Second sessions refused (policy `'refuse'`, or no hand-over in time). */
  refusals: number;
  /** Sessions whose lease was lost (a pause past its ttl, or the store unreachable): closed without saving. */
  leaseLost: number;
}

const zero = (): PlayerMetrics => ({
  sessions: 0, loads: 0, saves: 0, autosaves: 0, skippedClean: 0, recordsWritten: 0, bytesWritten: 0,
  saveFailures: 0, finalSaveFailures: 0, takeovers: 0, refusals: 0, leaseLost: 0,
});

/** @internal The live counters of `store`, for the plugin to bump. */
export const countersOf: (store: Store) => PlayerMetrics = perStore(zero);

/**
 * A snapshot of the plugin's player-record counters for `store` (every room
 * of this process that uses it).
 *
 * @example
 * ```ts
 * const { saves, bytesWritten, saveFailures } = playerMetrics(processStore());
 * ```
 */
export function playerMetrics(store: Store): PlayerMetrics {
  return { ...countersOf(store) };
}
