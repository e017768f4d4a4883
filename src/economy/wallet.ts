import { CorruptionError, InsufficientAssetsError, InvalidArgumentError } from '../errors.js';
import type { Store } from '../store.js';
import { checkUserId } from './userId.js';
import { none, parseAssets, type Assets } from './assets.js';
import { walletKey } from './keys.js';

/*
 * A wallet: one player's tradeable assets, one record (buildKey(WALLET_FUNC,
 * userId)), changed only by the economy's store transactions. It is never
 * held in a session's memory, so no session save can overwrite a trade.
 * Bytes: UTF-8 JSON {"coins":N,"items":{"kind":N,…}}, kinds sorted, no zero
 * counts; an absent record is the empty wallet.
 */

/** A player's coins and item counts (kinds with a zero count are left out). */
export type Wallet = Assets;

const text = new TextEncoder();
const untext = new TextDecoder('utf-8', { fatal: true });

/** @internal The bytes of a wallet. */
export function encodeWallet(w: Wallet): Uint8Array {
  return text.encode(JSON.stringify(w));
}

/** @internal A wallet from its record's bytes (undefined: absent, the empty wallet). */
export function decodeWallet(key: string, bytes: Uint8Array | undefined): Wallet {
  if (bytes === undefined) return none();
  let w: Assets | undefined;
  try {
    w = parseAssets(JSON.parse(untext.decode(bytes)));
  } catch {
    w = undefined;
  }
  if (!w) throw new CorruptionError(key, 0, 'not a wallet record');
  return w;
}

/** @internal `w` plus `add`, checked to stay within safe integers. */
export function credit(w: Wallet, add: Assets): Wallet {
  const items = { ...w.items };
  for (const [kind, n] of Object.entries(add.items)) items[kind] = safeSum(kind, items[kind] ?? 0, n);
  return { coins: safeSum('coins', w.coins, add.coins), items: sortKinds(items) };
}

/** @internal `w` minus `take`; throws InsufficientAssetsError (naming the first kind short) when it holds less. */
export function debit(userId: bigint, w: Wallet, take: Assets): Wallet {
  if (w.coins < take.coins) throw new InsufficientAssetsError(userId, 'coins', w.coins, take.coins);
  const items = { ...w.items };
  for (const [kind, n] of Object.entries(take.items)) {
    const have = items[kind] ?? 0;
    if (have < n) throw new InsufficientAssetsError(userId, kind, have, n);
    if (have === n) delete items[kind];
    else items[kind] = have - n;
  }
  return { coins: w.coins - take.coins, items };
}

function safeSum(kind: string, a: number, b: number): number {
  const s = a + b;
  if (!Number.isSafeInteger(s)) throw new InvalidArgumentError(`a wallet's ${kind} would exceed 2^53 - 1; nothing was written`);
  return s;
}

function sortKinds(items: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(items).sort()) out[k] = items[k]!;
  return out;
}

/**
 * A player's wallet as the store holds it now (the source of truth, not a
 * cache): an unknown player has the empty wallet.
 *
 * @param userId The player: a u64 as a bigint or a safe-integer number.
 * @returns `{ coins, items }`; kinds with no items are left out.
 * @throws {@link InvalidArgumentError} (rejects) `userId` is not a whole number in 0..2^64-1.
 * @throws {@link CorruptionError} (rejects) The wallet record is not one this module wrote.
 * @throws {@link StoreClosedError} | {@link StoreIOError} | {@link StoreUnavailableError} (rejects) The store failed the read.
 *
 * @example
 * ```ts
 * const { coins, items } = await wallet(store, 42n);
 * console.log(coins, items.sword ?? 0);
 * ```
 */
export async function wallet(store: Store, userId: bigint | number): Promise<Wallet> {
  const id = checkUserId('userId', userId);
  const key = walletKey(id);
  // Read in a transaction: its reads go to the write store (the source of truth), never to a possibly stale replica or cache.
  return store.transaction(async (tx) => decodeWallet(key, await tx.get(key)));
}
