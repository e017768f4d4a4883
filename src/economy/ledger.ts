import { CorruptionError, InvalidArgumentError, describeValue } from '../errors.js';
import { readOptions } from '../input.js';
import type { Store } from '../store.js';
import { parseAssets, type Assets } from './assets.js';
import { LEDGER_PREFIX, ledgerKey, seqOfLedgerKey } from './keys.js';

/*
 * The ledger: one append-only entry per applied grant, consume and trade,
 * numbered 1, 2, 3, … by a counter that every economy transaction reads and
 * bumps — so the numbers follow commit order with no gap and no tie, and a
 * reader that resumes after the last seq it saw misses nothing. Entries are
 * never rewritten or deleted by this module. Bytes: UTF-8 JSON, see
 * docs/economy.md.
 */

/** What every ledger entry carries. */
interface EntryBase {
  /** Its place in the ledger: 1, 2, …, in commit order, no gaps. */
  seq: number;
  /** When it was committed: ms since the epoch, by the clock of the process that committed it. */
  at: number;
  /** The idempotency key it was applied under (each key appears at most once in the ledger). */
  idempotencyKey: string;
}

/** A grant (assets created) or a consume (assets destroyed) of one player's wallet. */
export interface SupplyEntry extends EntryBase {
  op: 'grant' | 'consume';
  userId: bigint;
  assets: Assets;
}

/** A trade: `a` gave `aGives` to `b`, and `b` gave `bGives` to `a`, atomically. */
export interface TradeEntry extends EntryBase {
  op: 'trade';
  a: bigint;
  b: bigint;
  aGives: Assets;
  bGives: Assets;
}

/** One ledger entry. */
export type LedgerEntry = SupplyEntry | TradeEntry;

/** What a request is, without its place in the ledger: what an idempotency record compares a retry against. */
export type EconomyRequest = Omit<SupplyEntry, 'seq' | 'at'> | Omit<TradeEntry, 'seq' | 'at'>;

/** The JSON form of a request: user ids as decimal strings, fields in a fixed order (so equal requests give equal strings). */
export type RequestJson =
  | { op: 'grant' | 'consume'; key: string; user: string; assets: Assets }
  | { op: 'trade'; key: string; a: string; b: string; aGives: Assets; bGives: Assets };

/** @internal The JSON form of `r`. */
export function requestJson(r: EconomyRequest): RequestJson {
  return r.op === 'trade'
    ? { op: r.op, key: r.idempotencyKey, a: String(r.a), b: String(r.b), aGives: r.aGives, bGives: r.bGives }
    : { op: r.op, key: r.idempotencyKey, user: String(r.userId), assets: r.assets };
}

const text = new TextEncoder();
const untext = new TextDecoder('utf-8', { fatal: true });

/** @internal The bytes of ledger entry `seq`: `{"seq":…,"at":…,` + the request's JSON fields. */
export function encodeEntry(seq: number, at: number, request: RequestJson): Uint8Array {
  return text.encode(JSON.stringify({ seq, at, ...request }));
}

const userIdOf = (v: unknown): bigint | undefined => (typeof v === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(v) ? BigInt(v) : undefined);

/** @internal A ledger entry from its record. */
export function decodeEntry(key: string, bytes: Uint8Array): LedgerEntry {
  const bad = (): CorruptionError => new CorruptionError(key, 0, 'not a ledger entry');
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(untext.decode(bytes)) as Record<string, unknown>;
  } catch {
    throw bad();
  }
  const { seq, at, key: idempotencyKey, op } = o;
  if (typeof seq !== 'number' || seq !== seqOfLedgerKey(key) || typeof at !== 'number' || typeof idempotencyKey !== 'string') throw bad();
  if (op === 'trade') {
    const a = userIdOf(o.a), b = userIdOf(o.b), aGives = parseAssets(o.aGives), bGives = parseAssets(o.bGives);
    if (a === undefined || b === undefined || !aGives || !bGives) throw bad();
    return { seq, at, idempotencyKey, op, a, b, aGives, bGives };
  }
  if (op === 'grant' || op === 'consume') {
    const userId = userIdOf(o.user), assets = parseAssets(o.assets);
    if (userId === undefined || !assets) throw bad();
    return { seq, at, idempotencyKey, op, userId, assets };
  }
  throw bad();
}

/** Options of {@link ledger}. */
export interface LedgerOptions {
  /** Only entries with a larger seq (default 0: from the first). */
  after?: number;
  /** Most entries returned: 1..10000 (default 100). */
  limit?: number;
}

/** One page of the ledger. */
export interface LedgerPage {
  /** Entries in seq order. */
  entries: LedgerEntry[];
  /** Pass as `after` for the next page; undefined when this page reached the end of the ledger as it was when read. */
  next: number | undefined;
}

/**
 * One page of the ledger, in seq (= commit) order, read with one ordered
 * scan. Resuming with `after: page.next` (or after the last seq seen)
 * misses nothing: seqs are given out in commit order with no gaps.
 *
 * @param options `after` (a seq, exclusive) and `limit` (see {@link LedgerOptions}).
 * @returns The entries and the `after` of the next page.
 * @throws {@link InvalidArgumentError} (rejects) An unknown option, `after` not a whole number ≥ 0, `limit` outside 1..10000.
 * @throws {@link CorruptionError} (rejects) A ledger record that this module did not write.
 * @throws {@link StoreClosedError} | {@link StoreIOError} | {@link StoreUnavailableError} (rejects) The store failed the scan.
 *
 * @example
 * ```ts
 * let after = 0;
 * for (;;) {
 *   const page = await ledger(store, { after, limit: 500 });
 *   for (const e of page.entries) audit(e);
 *   if (page.next === undefined) break;
 *   after = page.next;
 * }
 * ```
 */
export async function ledger(store: Store, options?: LedgerOptions): Promise<LedgerPage> {
  const o = readOptions(options, 'ledger', ['after', 'limit']);
  const after = o.after ?? 0;
  const limit = o.limit ?? 100;
  if (typeof after !== 'number' || !Number.isSafeInteger(after) || after < 0) throw new InvalidArgumentError(`after must be a whole number ≥ 0, got ${describeValue(after)}`);
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new InvalidArgumentError(`limit must be a whole number in 1..10000, got ${describeValue(limit)}`);
  const page = await store.scan({ prefix: LEDGER_PREFIX, ...(after > 0 ? { gt: ledgerKey(after) } : {}), limit });
  const entries = page.entries.map((e) => decodeEntry(e.key, e.value));
  return { entries, next: page.cursor === undefined || entries.length < limit ? undefined : entries[entries.length - 1]!.seq };
}
