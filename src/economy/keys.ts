import { buildKey, keyPrefix } from '../buildKey.js';

/*
 * Where the economy keeps its records: funcIds from the plugin's reserved
 * range (>= 0xffffff00; ownership.ts uses 0xfffffff0 and 0xfffffff1), so no
 * RecordSpec of an app can collide with them. Nothing here is kept in a
 * player session's memory: these keys change only inside store transactions.
 */

/** funcId of wallets: `buildKey(WALLET_FUNC, userId)`. */
export const WALLET_FUNC = 0xffff_fff2;
/** funcId of the ledger: the sequence counter `buildKey(LEDGER_FUNC, 0)` and the entries `buildKey(LEDGER_FUNC, 0, [seq])`. */
export const LEDGER_FUNC = 0xffff_fff3;
/** funcId of idempotency records: `keyPrefix(IDEMPOTENCY_FUNC, 0) + ':' + idempotencyKey`. */
export const IDEMPOTENCY_FUNC = 0xffff_fff4;

/** A player's wallet. */
export const walletKey = (userId: bigint): string => buildKey(WALLET_FUNC, userId);
/** The ledger's sequence counter: the last seq given out (absent: none yet). */
export const sequenceKey = (): string => buildKey(LEDGER_FUNC, 0n);
/** The ledger entry of sequence number `seq` (1, 2, …): fixed-width hex, so key order is seq order. */
export const ledgerKey = (seq: number): string => buildKey(LEDGER_FUNC, 0n, [seq]);
/** The prefix of every ledger entry (and not of the counter, which has no third field). */
export const LEDGER_PREFIX = `${keyPrefix(LEDGER_FUNC, 0n)}:`;
/** The idempotency record of `idempotencyKey` (already validated: see checkIdempotencyKey). */
export const idempotencyRecordKey = (idempotencyKey: string): string => `${keyPrefix(IDEMPOTENCY_FUNC, 0n)}:${idempotencyKey}`;

/** The seq of a ledger entry's key, or undefined for any other key. */
export function seqOfLedgerKey(key: string): number | undefined {
  if (!key.startsWith(LEDGER_PREFIX) || key.length !== LEDGER_PREFIX.length + 16) return undefined;
  const seq = Number.parseInt(key.slice(LEDGER_PREFIX.length), 16);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}
