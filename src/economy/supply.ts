import { InvalidArgumentError } from '../errors.js';
import type { Store } from '../store.js';
import { applyOnce, type Receipt } from './apply.js';
import { checkAssets, checkIdempotencyKey, isEmpty, type AssetsInput } from './assets.js';
import { checkUserId } from './userId.js';

/*
 * Where assets enter and leave the economy: a grant creates them in one
 * wallet, a consume destroys them. Every other change is a trade, which
 * only moves them — so the sum of all wallets per kind is always the ledger's
 * grants minus its consumes.
 */

function request(op: 'grant' | 'consume', userId: unknown, assets: unknown, idempotencyKey: unknown) {
  const id = checkUserId('userId', userId);
  const a = checkAssets('assets', assets);
  if (isEmpty(a)) throw new InvalidArgumentError(`a ${op} must name some coins or items`);
  return { op, userId: id, assets: a, idempotencyKey: checkIdempotencyKey(idempotencyKey) };
}

/**
 * Creates coins and items in a player's wallet, once per idempotency key:
 * one atomic store transaction writes the wallet, an append-only ledger
 * entry and the key's idempotency record.
 *
 * If the call rejects with {@link OutcomeUnknownError}, it may or may not
 * have applied: call it again with the SAME key and arguments — it then
 * applies, or answers the first application's receipt (`duplicate: true`).
 *
 * @param userId The player (a u64 as a bigint or a safe-integer number).
 * @param assets What to create: `{ coins?, items? }`, amounts positive safe integers, at least one.
 * @param idempotencyKey The caller's name for this grant (1..128 of `A-Z a-z 0-9 _ . : -`), e.g. a purchase id.
 * @returns Its receipt: the ledger seq, the commit time, and whether it was already applied.
 * @throws {@link InvalidArgumentError} (rejects) A bad user id, assets or key, nothing to grant, or a balance that would pass 2^53 - 1; nothing written.
 * @throws {@link IdempotencyConflictError} (rejects) The key was used for another request; nothing written.
 * @throws {@link OutcomeUnknownError} (rejects) The commit's answer was lost; retry with the same key (see above).
 * @throws {@link TransactionConflictError} (rejects) Too many concurrent economy commits; nothing written, safe to retry.
 * @throws {@link StoreClosedError} | {@link StoreIOError} | {@link StoreUnavailableError} | {@link CrossSlotError} | {@link CorruptionError} (rejects) The store failed or refused it; nothing written.
 *
 * @example
 * ```ts
 * const r = await grant(store, 42n, { coins: 100, items: { sword: 1 } }, `purchase-${orderId}`);
 * if (r.duplicate) console.log('already granted as ledger entry', r.seq);
 * ```
 */
export async function grant(store: Store, userId: bigint | number, assets: AssetsInput, idempotencyKey: string): Promise<Receipt> {
  return applyOnce(store, request('grant', userId, assets, idempotencyKey));
}

/**
 * Destroys coins and items from a player's wallet (a purchase from the game,
 * a crafting cost), once per idempotency key, atomically with its ledger
 * entry; refused whole if the wallet holds less. Recovery after
 * {@link OutcomeUnknownError}: call again with the same key and arguments.
 *
 * @param userId The player (a u64 as a bigint or a safe-integer number).
 * @param assets What to destroy: `{ coins?, items? }`, amounts positive safe integers, at least one.
 * @param idempotencyKey The caller's name for this consume (1..128 of `A-Z a-z 0-9 _ . : -`).
 * @returns Its receipt.
 * @throws {@link InsufficientAssetsError} (rejects) The wallet holds less of some kind; nothing written.
 * @throws {@link InvalidArgumentError} (rejects) A bad user id, assets or key, or nothing to consume; nothing written.
 * @throws {@link IdempotencyConflictError} (rejects) The key was used for another request; nothing written.
 * @throws {@link OutcomeUnknownError} (rejects) The commit's answer was lost; retry with the same key.
 * @throws {@link TransactionConflictError} | {@link StoreClosedError} | {@link StoreIOError} | {@link StoreUnavailableError} | {@link CrossSlotError} | {@link CorruptionError} (rejects) Nothing written.
 *
 * @example
 * ```ts
 * try {
 *   await consume(store, 42n, { coins: 30 }, `shop-${requestId}`);
 * } catch (err) {
 *   if (err instanceof InsufficientAssetsError) client.send('too-poor', err.kind);
 * }
 * ```
 */
export async function consume(store: Store, userId: bigint | number, assets: AssetsInput, idempotencyKey: string): Promise<Receipt> {
  return applyOnce(store, request('consume', userId, assets, idempotencyKey));
}
