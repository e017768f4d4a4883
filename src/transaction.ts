import { giveCopy, keepCopy } from './bytes.js';
import { checkExpiry, checkKey, checkValue, type BatchOp, type ExpiryOptions } from './input.js';

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
 * One attempt of an optimistic transaction: reads go to the store (and are
 * remembered with the version they saw); writes are buffered here and reach
 * the store only at commit, as one atomic unit, and only if nothing read
 * has changed meanwhile.
 */
export class Transaction {
  /** @internal key → version read (0: absent). */
  readonly reads = new Map<string, number>();
  private readonly writes = new Map<string, BatchOp>();

  constructor(private readonly host: TxHost) {}

  /** Reads `key`, seeing this transaction's own writes first. */
  async get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    const own = this.writes.get(key);
    if (own) return own.type === 'put' ? giveCopy(own.value) : undefined;
    const { value, version } = await this.host.readVersioned(key, this.reads);
    if (!this.reads.has(key)) this.reads.set(key, version);
    return value;
  }

  /** Stages a put (written at commit); it may expire (see ExpiryOptions). */
  put(key: string, value: Uint8Array, options?: ExpiryOptions): void {
    checkKey(key);
    const deadline = checkExpiry(options);
    const put = { type: 'put' as const, key, value: keepCopy(checkValue(value)) };
    this.writes.set(key, deadline === undefined ? put : { ...put, expiresAt: deadline });
  }

  /** Stages a delete (applied at commit). */
  delete(key: string): void {
    checkKey(key);
    this.writes.set(key, { type: 'delete', key });
  }

  /** @internal */
  get ops(): BatchOp[] { return [...this.writes.values()]; }
}
