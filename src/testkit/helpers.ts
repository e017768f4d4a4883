/*
 * The small helpers the conformance suite (and tickstore's own tests) use:
 * bytes and text, sleeping, ticking a ticker as a room's clock would, and
 * polling for a condition. They live here, not in test/, because the suite
 * ships in `tickstore/testkit` and must not reach outside the package.
 */
import type { StoreResult, Ticker } from '../ticker.js';

/**
 * Resolves after `ms` milliseconds.
 *
 * @param ms How long to wait.
 * @throws Never.
 * @example
 * ```ts
 * await sleep(20);
 * ```
 */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A string's UTF-8 bytes, as a store value.
 *
 * @param s The text.
 * @throws Never.
 * @example
 * ```ts
 * await store.put('motd', bytes('hello'));
 * ```
 */
export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * A value's bytes decoded as UTF-8; `undefined` (a miss) stays `undefined`.
 *
 * @param b The value, or undefined.
 * @throws Never (malformed UTF-8 decodes to U+FFFD).
 * @example
 * ```ts
 * expect(text(await store.get('motd'))).to.equal('hello');
 * ```
 */
export const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

/**
 * Ticks `ticker` (as a room's clock would, every millisecond) until `n`
 * results were delivered through `poll()`; returns them in delivery order.
 * Use it on a ticker without `onResult`.
 *
 * @param ticker The ticker the ops were issued on.
 * @param n How many results to wait for.
 * @param timeoutMs How long to wait at most.
 * @returns The results, in the order `poll()` gave them.
 * @throws Error (rejects) Fewer than `n` results arrived within `timeoutMs`.
 * @example
 * ```ts
 * const t = store.ticker();
 * t.put('k', bytes('v'));
 * t.get('k');
 * const [put, get] = await tickFor(t, 2);
 * ```
 */
export async function tickFor(ticker: Ticker, n: number, timeoutMs = 10_000): Promise<StoreResult[]> {
  const got: StoreResult[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < n) {
    if (Date.now() > deadline) throw new Error(`only ${got.length} of ${n} results within ${timeoutMs} ms`);
    await sleep(1);
    ticker.tick();
    for (let r = ticker.poll(); r; r = ticker.poll()) got.push(r);
  }
  return got;
}

/**
 * Polls `cond` every 2 ms until it holds.
 *
 * @param cond The condition.
 * @param what What is awaited, for the timeout's message.
 * @param timeoutMs How long to wait at most.
 * @throws Error (rejects) `cond` did not hold within `timeoutMs`.
 * @example
 * ```ts
 * await waitFor(() => store.metrics().replicaLag === 0, 'the replica to catch up');
 * ```
 */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}
