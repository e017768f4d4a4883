import type { BackendReply, FenceToken } from '../../backend.js';

interface Held { token: number; expiresAt: number }

/** Lapsed leases kept before a sweep: the table stays as small as the scopes in use. */
const SWEEP_AT = 1024;

/**
 * The leases of an engine that one process owns (disk, memory). Every op of
 * the store passes through this process's main thread in submission order,
 * so a lease is judged when an op is submitted: a fenced write submitted
 * while its token is current is ordered before any later acquire, exactly as
 * the engine applies them. Tokens start at the clock in microseconds, so
 * they keep growing across restarts of the process (unless the clock steps
 * back by more than the tokens handed out in the meantime).
 */
export class LocalLeases {
  private readonly held = new Map<string, Held>();
  private last: number;

  constructor(private readonly clock: () => number = Date.now) {
    this.last = clock() * 1000;
  }

  acquire(scope: string, ttlMs: number): BackendReply {
    const now = this.clock();
    const h = this.held.get(scope);
    if (h && h.expiresAt > now) return { found: false, expiresAt: h.expiresAt };
    if (this.held.size >= SWEEP_AT) this.sweep(now);
    const lease = { token: ++this.last, expiresAt: now + ttlMs };
    this.held.set(scope, lease);
    return { found: true, version: lease.token, expiresAt: lease.expiresAt };
  }

  renew(scope: string, token: number, ttlMs: number): BackendReply {
    const now = this.clock();
    const h = this.current(scope, token, now);
    if (!h) return { found: false };
    h.expiresAt = now + ttlMs;
    return { found: true, version: token, expiresAt: h.expiresAt };
  }

  release(scope: string, token: number): BackendReply {
    const h = this.current(scope, token, this.clock());
    if (h) this.held.delete(scope);
    return { found: h !== undefined };
  }

  /** Whether a write fenced by `fence` may be applied now. */
  admits(fence: FenceToken): boolean {
    return this.current(fence.scope, fence.token, this.clock()) !== undefined;
  }

  private current(scope: string, token: number, now: number): Held | undefined {
    const h = this.held.get(scope);
    return h && h.token === token && h.expiresAt > now ? h : undefined;
  }

  private sweep(now: number): void {
    for (const [scope, h] of this.held) if (h.expiresAt <= now) this.held.delete(scope);
  }
}
