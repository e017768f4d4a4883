import { OutcomeUnknownError, StoreIOError, StoreUnavailableError } from '../errors.js';

/*
 * What the plugin's fenced saves (player records, room snapshots) share:
 * whether a record's new encoding differs from what was last written, and
 * which failures allow sending the same write again. A fenced save of whole
 * records is idempotent — same bytes, same fence — so a write whose outcome
 * is unknown may be resent: applying it twice is applying it once.
 */

/** Whether `b` is exactly the bytes `a` (undefined: nothing written yet). */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Failures after which the same fenced write may be sent again (a lost lease is not one: nothing more may be written). */
export function transient(err: unknown): boolean {
  return err instanceof StoreUnavailableError || err instanceof OutcomeUnknownError || err instanceof StoreIOError;
}

/** Waits before retry `attempt` (1, 2, …): 100 ms, doubling. */
export function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
}
