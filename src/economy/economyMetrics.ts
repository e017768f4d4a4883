import type { Store } from '../store.js';
import type { Assets } from './assets.js';
import { perStore } from '../perStore.js';

/**
 * What the economy did through one store in this process since it was
 * opened (see {@link economyMetrics}). Counted once per call, after its
 * transaction settled: a transaction attempt that was retried counts once.
 */
export interface EconomyMetrics {
  /** Trades applied (each wrote one ledger entry). */
  trades: number;
  /** Grants applied. */
  grants: number;
  /** Consumes applied. */
  consumes: number;
  /** Retries of an already-applied request (same idempotency key, same request) answered with its first receipt, writing nothing. */
  duplicatesSuppressed: number;
  /** Requests refused because their idempotency key was used for another request. */
  idempotencyConflicts: number;
  /** Consumes and trades refused for want of assets. */
  insufficient: number;
  /** Calls whose outcome was lost (OutcomeUnknownError): each may or may not have applied; a retry with its key tells. */
  unknownOutcomes: number;
  /** Coins and items created by grants, per kind. */
  created: Assets;
  /** Coins and items destroyed by consumes, per kind. */
  destroyed: Assets;
}

const zero = (): EconomyMetrics => ({
  trades: 0, grants: 0, consumes: 0, duplicatesSuppressed: 0, idempotencyConflicts: 0, insufficient: 0, unknownOutcomes: 0,
  created: { coins: 0, items: {} }, destroyed: { coins: 0, items: {} },
});

/** @internal The live counters of `store`, for the economy to bump. */
export const economyCounters: (store: Store) => EconomyMetrics = perStore(zero);

/** @internal Adds `a` into the per-kind totals `into`. */
export function addInto(into: Assets, a: Assets): void {
  into.coins += a.coins;
  for (const [kind, n] of Object.entries(a.items)) into.items[kind] = (into.items[kind] ?? 0) + n;
}

/**
 * A snapshot of the economy's counters for `store` in this process (every
 * room that uses it). For totals across processes, read the ledger.
 *
 * @param store The store the economy calls were made on.
 * @returns A copy of the counters.
 * @throws Never.
 *
 * @example
 * ```ts
 * const { trades, duplicatesSuppressed, created } = economyMetrics(processStore());
 * console.log(trades, duplicatesSuppressed, created.items.sword ?? 0);
 * ```
 */
export function economyMetrics(store: Store): EconomyMetrics {
  const m = economyCounters(store);
  return { ...m, created: { coins: m.created.coins, items: { ...m.created.items } }, destroyed: { coins: m.destroyed.coins, items: { ...m.destroyed.items } } };
}
