import { keyPrefix } from '../buildKey.js';
import { LeaseHeldError, SessionRefusedError } from '../errors.js';
import type { Lease } from '../lease.js';
import type { Store } from '../store.js';

/*
 * One owner per player: a player's records belong to one live session at a
 * time, the holder of the player's lease (in-process on the disk engine,
 * shared by every process on Redis). A second session asks the owner to hand
 * over by writing a takeover request on the player's control key, which the
 * owner watches; the owner saves, releases, and the newcomer's lease attempt
 * succeeds. An owner that died simply lets its lease lapse.
 */

/** The first funcId the plugin reserves for itself: record specs use 0..0xfffffeff. */
export const RESERVED_FUNC_IDS = 0xffff_ff00;
const OWNER_FUNC = 0xffff_fff0;
const CONTROL_FUNC = 0xffff_fff1;

/** What a second session of a player does while the first one lives (see {@link StorePluginOptions.secondSession}). */
export type SecondSessionPolicy = 'takeover' | 'refuse';

/** How a session becomes its player's owner. */
export interface OwnershipOptions {
  policy: SecondSessionPolicy;
  /** The lease's ttl: how long a dead owner blocks its player. */
  ttlMs: number;
  /** How long a newcomer waits for a live owner to hand over (beyond a dead owner's ttl, under takeover). */
  handoffMs: number;
}

/** How long a takeover request stands; the newcomer re-asks well before. */
const REQUEST_TTL_MS = 30_000;
const REASK_MS = 2_000;

/** The lease scope of a player's records: shares the player's Redis Cluster slot. */
export const ownerScope = (userId: bigint): string => keyPrefix(OWNER_FUNC, userId);
/** Where takeover requests for a player are written (and watched). */
export const controlKey = (userId: bigint): string => keyPrefix(CONTROL_FUNC, userId);

const text = new TextEncoder();
const untext = new TextDecoder();

/** A takeover request: `{"takeover":"<nonce>"}`, the asking session's nonce. */
function encodeRequest(nonce: string): Uint8Array {
  return text.encode(JSON.stringify({ takeover: nonce }));
}

/** The nonce of the session a takeover request comes from, or undefined for anything else. */
export function requestNonce(bytes: Uint8Array | undefined): string | undefined {
  if (!bytes) return undefined;
  try {
    const v = JSON.parse(untext.decode(bytes)) as { takeover?: unknown };
    return typeof v?.takeover === 'string' ? v.takeover : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Takes the player's lease for the session `nonce`: at once when no session
 * owns the player; else, under `'takeover'`, by asking the owner to hand
 * over (and waiting up to the lease's ttl for one that died), or, under
 * `'refuse'`, by waiting `handoffMs` for a leaving owner's final save.
 *
 * @throws {@link SessionRefusedError} (rejects) Still owned when the wait ran out, or `gone()` became true meanwhile.
 * @throws (rejects) Whatever {@link Store.lease} rejects with other than LeaseHeldError.
 */
export async function acquireOwnership(store: Store, userId: bigint, nonce: string, o: OwnershipOptions, gone: () => boolean): Promise<Lease> {
  const scope = ownerScope(userId);
  const deadline = Date.now() + o.handoffMs + (o.policy === 'takeover' ? o.ttlMs : 0);
  let askedAt = -Infinity;
  let delay = 10;
  for (;;) {
    try {
      const lease = await store.lease(scope, { ttlMs: o.ttlMs });
      // A satisfied request must not stand: the next owner would take it for a new one.
      if (askedAt > -Infinity) await withdraw(store, userId, nonce);
      return lease;
    } catch (err) {
      if (!(err instanceof LeaseHeldError)) throw err;
    }
    const now = Date.now();
    if (gone() || now >= deadline) {
      if (askedAt > -Infinity) await withdraw(store, userId, nonce);
      throw new SessionRefusedError(userId, gone()
        ? `user ${userId} left while waiting for its records`
        : `user ${userId} already has a live session (secondSession: '${o.policy}'${o.policy === 'takeover' ? ', and it did not hand over in time' : ''})`);
    }
    if (o.policy === 'takeover' && now - askedAt >= REASK_MS) {
      await store.put(controlKey(userId), encodeRequest(nonce), { ttlMs: REQUEST_TTL_MS });
      askedAt = now;
    }
    await sleep(delay * (0.5 + Math.random()));
    delay = Math.min(delay * 2, 200);
  }
}

/** Takes back a newcomer's takeover request that it no longer needs (best effort: a newer request stays). */
async function withdraw(store: Store, userId: bigint, nonce: string): Promise<void> {
  try {
    if (requestNonce(await store.get(controlKey(userId))) === nonce) await store.delete(controlKey(userId));
  } catch {
    // The request lapses on its own (REQUEST_TTL_MS).
  }
}
