import { CorruptionError, IdempotencyConflictError, InsufficientAssetsError, OutcomeUnknownError } from '../errors.js';
import type { Store } from '../store.js';
import { addInto, economyCounters } from './economyMetrics.js';
import { idempotencyRecordKey, ledgerKey, sequenceKey, walletKey } from './keys.js';
import { encodeEntry, requestJson, type EconomyRequest, type RequestJson } from './ledger.js';
import { credit, debit, decodeWallet, encodeWallet, type Wallet } from './wallet.js';

/*
 * The one economy transaction, shared by grant, consume and trade. ONE
 * store transaction reads the request's idempotency record, the ledger's
 * sequence counter and the wallets involved; then either
 *  - the record exists: the same request → its first receipt, nothing
 *    written; another request → IdempotencyConflictError, nothing written;
 *  - or it checks balances (InsufficientAssetsError, nothing written) and
 *    writes the wallets, the counter, the ledger entry and the idempotency
 *    record as one atomic commit.
 * The commit applies only if none of those reads changed meanwhile, so two
 * retries of one key racing in two processes apply it once, and concurrent
 * trades of one player never both spend the same coin.
 */

/** What an applied (or already applied) economy request returns. */
export interface Receipt {
  /** Its ledger entry's seq. */
  seq: number;
  /** When it was committed (ms since the epoch). */
  at: number;
  /** True when this call was a retry of a request already applied under the same idempotency key: nothing was written now. */
  duplicate: boolean;
}

/** Attempts per call: economy transactions all bump one counter, so they conflict whenever they overlap; each round at least one commits. */
export const ECONOMY_TX_RETRIES = 200;

const text = new TextEncoder();
const untext = new TextDecoder('utf-8', { fatal: true });

interface IdempotencyRecord { seq: number; at: number; request: RequestJson }

function decodeRecord(key: string, bytes: Uint8Array): IdempotencyRecord {
  try {
    const o = JSON.parse(untext.decode(bytes)) as Partial<IdempotencyRecord>;
    if (typeof o.seq === 'number' && typeof o.at === 'number' && o.request !== null && typeof o.request === 'object') return o as IdempotencyRecord;
  } catch { /* below */ }
  throw new CorruptionError(key, 0, 'not an idempotency record');
}

function decodeSeq(key: string, bytes: Uint8Array | undefined): number {
  if (bytes === undefined) return 0;
  const s = untext.decode(bytes);
  const n = Number(s);
  if (!/^[1-9][0-9]*$/.test(s) || !Number.isSafeInteger(n)) throw new CorruptionError(key, 0, 'not a ledger sequence counter');
  return n;
}

/** The wallets after `r`, in the order of `users`; throws InsufficientAssetsError. */
function after(r: EconomyRequest, before: Wallet[]): Wallet[] {
  if (r.op !== 'trade') return [r.op === 'grant' ? credit(before[0]!, r.assets) : debit(r.userId, before[0]!, r.assets)];
  const a = credit(debit(r.a, before[0]!, r.aGives), r.bGives);
  const b = credit(debit(r.b, before[1]!, r.bGives), r.aGives);
  return [a, b];
}

/** @internal Applies an already-validated request once (see the file comment). */
export async function applyOnce(store: Store, r: EconomyRequest): Promise<Receipt> {
  const json = requestJson(r);
  const want = JSON.stringify(json);
  const recordKey = idempotencyRecordKey(r.idempotencyKey);
  const counterKey = sequenceKey();
  const walletKeys = (r.op === 'trade' ? [r.a, r.b] : [r.userId]).map(walletKey);
  const m = economyCounters(store);
  let receipt: Receipt;
  try {
    receipt = await store.transaction(async (tx) => {
      // All reads at once (one engine turn / one pipeline); the commit re-checks every version read, so their order does not matter.
      const [record, counter, ...walletBytes] = await Promise.all([tx.get(recordKey), tx.get(counterKey), ...walletKeys.map((k) => tx.get(k))]);
      if (record !== undefined) {
        const prior = decodeRecord(recordKey, record);
        if (JSON.stringify(prior.request) !== want) throw new IdempotencyConflictError(r.idempotencyKey);
        return { seq: prior.seq, at: prior.at, duplicate: true };
      }
      const next = after(r, walletKeys.map((k, i) => decodeWallet(k, walletBytes[i])));
      const seq = decodeSeq(counterKey, counter) + 1;
      const at = Date.now();
      walletKeys.forEach((k, i) => tx.put(k, encodeWallet(next[i]!)));
      tx.put(counterKey, text.encode(String(seq)));
      tx.put(ledgerKey(seq), encodeEntry(seq, at, json));
      tx.put(recordKey, text.encode(JSON.stringify({ seq, at, request: json })));
      return { seq, at, duplicate: false };
    }, { retries: ECONOMY_TX_RETRIES });
  } catch (err) {
    if (err instanceof IdempotencyConflictError) m.idempotencyConflicts++;
    else if (err instanceof InsufficientAssetsError) m.insufficient++;
    else if (err instanceof OutcomeUnknownError) m.unknownOutcomes++;
    throw err;
  }
  if (receipt.duplicate) m.duplicatesSuppressed++;
  else if (r.op === 'trade') m.trades++;
  else if (r.op === 'grant') { m.grants++; addInto(m.created, r.assets); }
  else { m.consumes++; addInto(m.destroyed, r.assets); }
  return receipt;
}
