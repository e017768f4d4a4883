import { giveCopy, keepCopy } from './bytes.js';
import { InvalidArgumentError, describeValue } from './errors.js';
import { checkBatchBytes, checkExpiry, checkKey, checkValue, opBytes, readOptions, type ExpiryOptions } from './input.js';
import type { WriteOp } from './backend.js';

/** Most `retries` a transaction may ask for: 1,000,000 (default 16); enough to retry under any real contention, and a bound on a typo. */
export const MAX_TX_RETRIES = 1_000_000;

/** Options of {@link Store.transaction} and {@link Ticker.transaction}. */
export interface TransactionOptions {
  /** How many times a conflicting attempt is run again: a whole number in 0..{@link MAX_TX_RETRIES} (default 16). */
  retries?: number;
}

/** Checks a transaction's closure and options at the call; returns its retry budget. */
export function checkTransaction(fn: unknown, options: unknown): number {
  if (typeof fn !== 'function') throw new InvalidArgumentError(`a transaction needs a function, got ${describeValue(fn)}`);
  const { retries = 16 } = readOptions(options, 'transaction', ['retries']);
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > MAX_TX_RETRIES) {
    throw new InvalidArgumentError(`retries must be a whole number in 0..${MAX_TX_RETRIES}, got ${describeValue(retries)}`);
  }
  return retries;
}

/** What a transaction needs from the store (see Store.transaction). */
export interface TxHost {
  /** Reads `key` with its version, provided every version in `reads` is still current (else rejects with TxRetry). */
  readVersioned(key: string, reads: Map<string, number>): Promise<{ value: Uint8Array | undefined; version: number }>;
}

/** @internal Thrown into a transaction attempt whose reads no longer belong to one state: the attempt is run again. */
export class TxRetry extends Error {
  constructor() { super('transaction attempt superseded by a concurrent commit; it is retried'); }
}

/**
 * One attempt of an optimistic transaction, handed to the closure of
 * {@link Store.transaction} (or {@link Ticker.transaction}): reads go to the
 * store (and are remembered with the version they saw); writes are buffered
 * here and reach the store only at commit, as one atomic unit, and only if
 * nothing read has changed meanwhile.
 *
 * @example
 * ```ts
 * await store.transaction(async (tx) => {
 *   const bytes = await tx.get(key);
 *   tx.put(key, next(bytes));
 *   tx.delete(otherKey);
 * });
 * ```
 */
export class Transaction {
  /** @internal key → version read (0: absent). */
  readonly reads = new Map<string, number>();
  private readonly writes = new Map<string, WriteOp>();
  /** The encoded size of `writes` (see MAX_BATCH_BYTES): checked as each write is staged, so an oversized commit fails at the call that made it so. */
  private bytes = 0;

  /** @internal Made by `Store.transaction`. */
  constructor(private readonly host: TxHost) {}

  /**
   * Reads `key`, seeing this transaction's own writes first, then the store
   * (the write store, whatever the sync mode). An expired key reads as absent.
   *
   * @returns The value (the caller's own copy), or undefined when absent.
   * @throws {@link InvalidKeyError} (rejects) `key` is not a valid key.
   * @throws {@link StoreClosedError} | {@link StoreIOError} | {@link CorruptionError} (rejects) The store is closed, or the engine failed the read.
   */
  async get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    const own = this.writes.get(key);
    if (own) return own.type === 'put' ? giveCopy(own.value) : undefined;
    const { value, version } = await this.host.readVersioned(key, this.reads);
    if (!this.reads.has(key)) this.reads.set(key, version);
    return value;
  }

  /**
   * Stages a put, written at commit; the value is copied now. It may expire
   * (see {@link ExpiryOptions}).
   *
   * @throws {@link InvalidKeyError} `key` is not a valid key.
   * @throws {@link InvalidValueError} `value` is not a `Uint8Array` of at most {@link MAX_VALUE_BYTES} bytes.
   * @throws {@link InvalidArgumentError} Bad expiry options, or the transaction's writes would encode to more than {@link MAX_BATCH_BYTES}.
   */
  put(key: string, value: Uint8Array, options?: ExpiryOptions): void {
    checkKey(key);
    const deadline = checkExpiry(options);
    const v = checkValue(value);
    const put = { type: 'put' as const, key, value: v };
    this.stage(deadline === undefined ? put : { ...put, expiresAt: deadline });
  }

  /**
   * Stages a delete, applied at commit.
   *
   * @throws {@link InvalidKeyError} `key` is not a valid key.
   * @throws {@link InvalidArgumentError} The transaction's writes would encode to more than {@link MAX_BATCH_BYTES}.
   */
  delete(key: string): void {
    checkKey(key);
    this.stage({ type: 'delete', key });
  }

  /** Replaces the key's staged write, refusing it (nothing staged) if the commit would grow past MAX_BATCH_BYTES. */
  private stage(op: WriteOp): void {
    const old = this.writes.get(op.key);
    const bytes = this.bytes - (old ? opBytes(old) : 0) + opBytes(op);
    checkBatchBytes(bytes);
    this.bytes = bytes;
    this.writes.set(op.key, op.type === 'put' ? { ...op, value: keepCopy(op.value) } : op);
  }

  /** @internal */
  get ops(): WriteOp[] { return [...this.writes.values()]; }
}
