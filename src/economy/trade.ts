import { InvalidArgumentError, describeValue } from '../errors.js';
import { guard } from '../input.js';
import type { Store } from '../store.js';
import { applyOnce, type Receipt } from './apply.js';
import { checkAssets, checkIdempotencyKey, isEmpty, type AssetsInput } from './assets.js';
import { checkUserId } from './userId.js';

/** A trade between two players: what each gives the other. */
export interface TradeRequest {
  /** One player (a u64 as a bigint or a safe-integer number). */
  a: bigint | number;
  /** The other player; not `a`. */
  b: bigint | number;
  /** What `a` gives `b` (default nothing). */
  aGives?: AssetsInput;
  /** What `b` gives `a` (default nothing). At least one side gives something. */
  bGives?: AssetsInput;
}

const argError = (m: string): InvalidArgumentError => new InvalidArgumentError(m);

function tradeRequest(t: unknown, idempotencyKey: unknown) {
  return guard('the trade', argError, () => {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) throw new InvalidArgumentError(`a trade must be an object { a, b, aGives?, bGives? }, got ${describeValue(t)}`);
    for (const k in t) if (!['a', 'b', 'aGives', 'bGives'].includes(k)) throw new InvalidArgumentError(`trade: unknown field ${describeValue(k)} (expected a, b, aGives, bGives)`);
    const o = t as Record<string, unknown>;
    const a = checkUserId('trade.a', o.a);
    const b = checkUserId('trade.b', o.b);
    if (a === b) throw new InvalidArgumentError(`a trade needs two different players, got ${a} twice`);
    const aGives = o.aGives === undefined ? { coins: 0, items: {} } : checkAssets('trade.aGives', o.aGives);
    const bGives = o.bGives === undefined ? { coins: 0, items: {} } : checkAssets('trade.bGives', o.bGives);
    if (isEmpty(aGives) && isEmpty(bGives)) throw new InvalidArgumentError('a trade must move something: aGives and bGives are both empty');
    return { op: 'trade' as const, a, b, aGives, bGives, idempotencyKey: checkIdempotencyKey(idempotencyKey) };
  });
}

/**
 * Trades between two players atomically and once per idempotency key: ONE
 * store transaction reads both wallets and the key's idempotency record,
 * checks that each side holds what it gives, and writes both wallets, an
 * append-only ledger entry and the idempotency record together — or
 * nothing. A retry of the same trade with the same key returns the first
 * receipt (`duplicate: true`) and writes nothing.
 *
 * Recovery: on {@link OutcomeUnknownError} (the answer was lost: Redis
 * dropped the connection, or did not answer in time) the trade may or may
 * not have applied; call `trade` again with the SAME key and request, as
 * often as needed — it applies at most once. Never retry with a new key.
 *
 * Redis Cluster: the two wallets are keys of two players, kept in two hash
 * slots, so a trade is refused there with {@link CrossSlotError} before
 * anything is sent (see docs/economy.md). Standalone Redis, disk and memory
 * engines apply it atomically.
 *
 * @param t The players and what each gives (see {@link TradeRequest}).
 * @param idempotencyKey The caller's name for this trade (1..128 of `A-Z a-z 0-9 _ . : -`); scope it per client (e.g. prefix the user id) so one client cannot use another's.
 * @returns Its receipt: the ledger seq, the commit time, and whether it was already applied.
 * @throws {@link InsufficientAssetsError} (rejects) A side holds less than it gives; nothing written.
 * @throws {@link InvalidArgumentError} (rejects) A bad user id, `a` = `b`, bad assets or key, or nothing moved; nothing written.
 * @throws {@link IdempotencyConflictError} (rejects) The key was used for another request; nothing written.
 * @throws {@link OutcomeUnknownError} (rejects) The commit's answer was lost; retry with the same key.
 * @throws {@link TransactionConflictError} (rejects) Too many concurrent economy commits; nothing written, safe to retry.
 * @throws {@link CrossSlotError} (rejects) Redis Cluster: the two wallets are in different slots; nothing written.
 * @throws {@link StoreClosedError} | {@link StoreIOError} | {@link StoreUnavailableError} | {@link CorruptionError} (rejects) Nothing written.
 *
 * @example
 * ```ts
 * const receipt = await trade(store, { a: alice, b: bob, aGives: { coins: 50 }, bGives: { items: { sword: 1 } } }, `u${alice}-t17`);
 * const { entries } = await ledger(store, { after: receipt.seq - 1, limit: 1 });
 * ```
 */
export async function trade(store: Store, t: TradeRequest, idempotencyKey: string): Promise<Receipt> {
  return applyOnce(store, tradeRequest(t, idempotencyKey));
}
