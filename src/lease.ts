import type { BackendReply, FenceToken } from './backend.js';
import { InvalidArgumentError, LeaseLostError, describeValue } from './errors.js';
import { checkKey, readOptions } from './input.js';

/** Longest lease: one day. A holder renews well before its ttl runs out. */
export const MAX_LEASE_TTL_MS = 86_400_000;

/** Options of {@link Store.lease}. */
export interface LeaseOptions {
  /** How long the lease lasts unless renewed, in ms: a whole number in 1..{@link MAX_LEASE_TTL_MS}. */
  ttlMs: number;
}

/** What a lease needs from its store. */
export interface LeaseHost {
  /** @internal */
  leaseOp(op: 'renew' | 'release', scope: string, token: number, ttlMs: number): Promise<BackendReply>;
}

/** Checks `store.lease`'s arguments; returns the ttl. */
export function checkLease(scope: unknown, options: unknown): number {
  if (typeof scope !== 'string' || scope === '') throw new InvalidArgumentError(`a lease scope is a non-empty string, got ${describeValue(scope)}`);
  checkKey(scope);
  const { ttlMs } = readOptions(options, 'lease', ['ttlMs']);
  return checkTtl(ttlMs);
}

function checkTtl(ttlMs: unknown): number {
  if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_LEASE_TTL_MS) {
    throw new InvalidArgumentError(`ttlMs must be a whole number of milliseconds in 1..${MAX_LEASE_TTL_MS}, got ${describeValue(ttlMs)}`);
  }
  return ttlMs;
}

/** A write's `fence` option: a lease of this store, or undefined. */
export function checkFence(fence: unknown): FenceToken | undefined {
  if (fence === undefined) return undefined;
  if (!(fence instanceof Lease)) throw new InvalidArgumentError(`fence must be a Lease from store.lease(), got ${describeValue(fence)}`);
  return fence.fenceToken;
}

/**
 * The single-writer right to a scope (e.g. one player's records), from
 * {@link Store.lease}. Its fencing `token` is larger than every token the
 * scope had before, so a write carrying it (`{ fence: lease }`) is applied
 * only while this lease is the scope's current one — checked in the same
 * atomic step as the write. A holder that paused past its ttl (a GC pause, a
 * frozen process) finds its writes refused with {@link LeaseLostError} and
 * nothing written, even if it does not know yet that it lost the lease.
 *
 * @example
 * ```ts
 * const lease = await store.lease(keyPrefix(1, userId), { ttlMs: 10_000 });
 * const renewal = setInterval(() => lease.renew().catch(onLost), 3_000);
 * await store.put(profileKey, bytes, { fence: lease });   // LeaseLostError once another holder took over
 * clearInterval(renewal);
 * await lease.release();
 * ```
 */
export class Lease {
  private until: number;

  /** @internal Made by `Store.lease`. */
  constructor(private readonly host: LeaseHost, readonly scope: string, readonly token: number, expiresAt: number, private readonly ttlMs: number) {
    this.until = expiresAt;
  }

  /** @internal What a fenced write carries. */
  get fenceToken(): FenceToken { return { scope: this.scope, token: this.token }; }

  /** When the lease lapses unless renewed (ms since the epoch, the engine's clock). */
  get expiresAt(): number { return this.until; }

  /**
   * Extends the lease by `ttlMs` (default: the ttl it was taken with) from now.
   *
   * @throws {@link LeaseLostError} (rejects) It lapsed, was released, or another holder has the scope now.
   * @throws {@link InvalidArgumentError} (rejects) A ttl that is not a whole number in 1..{@link MAX_LEASE_TTL_MS}.
   */
  async renew(ttlMs: number = this.ttlMs): Promise<void> {
    const reply = await this.host.leaseOp('renew', this.scope, this.token, checkTtl(ttlMs));
    if (!reply.found) throw new LeaseLostError(this.scope);
    this.until = reply.expiresAt ?? this.until;
  }

  /**
   * Ends the lease, so another holder can take the scope at once.
   *
   * @returns Whether it was still held (false: it had lapsed or been taken; nothing changed).
   */
  async release(): Promise<boolean> {
    const reply = await this.host.leaseOp('release', this.scope, this.token, 0);
    return reply.found;
  }
}
