/**
 * How one call of the public surface is run and judged: outcomes of the
 * promise, ticker and synchronous forms; the verdict rules; the cheap
 * "nothing written" snapshot and the deep digest; the runner that counts
 * inputs and, with TICKSTORE_PROPERTY_COLLECT=1, gathers every failing class
 * instead of stopping at the first.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { TickstoreError, type Store, type StoreResult, type Ticker } from '../../src/index.js';
import { UserThrow } from './arbitraries.js';
import type { Verdict } from './oracle.js';

/** Scale with TICKSTORE_PROPERTY_RUNS (a multiplier; default 1 = CI size). */
export const SCALE = Number(process.env.TICKSTORE_PROPERTY_RUNS ?? 1);
export const SEED = Number(process.env.TICKSTORE_PROPERTY_SEED ?? 11_2025);
const COLLECT = process.env.TICKSTORE_PROPERTY_COLLECT === '1';
/** Generous: the machine is shared; a hang is minutes, not this. */
export const CALL_TIMEOUT_MS = 10_000;

export type Outcome =
  | { kind: 'ok'; value: unknown }
  /** Thrown by a synchronous or ticker form, or the rejection of a promise form. */
  | { kind: 'refused'; error: unknown }
  /** A promise form that threw instead of rejecting. */
  | { kind: 'sync-throw'; error: unknown }
  | { kind: 'not-promise'; value: unknown }
  | { kind: 'hang' }
  /** A ticker op accepted at the call whose result says it failed. */
  | { kind: 'late'; error: unknown }
  | { kind: 'tick-threw'; error: unknown }
  | { kind: 'bad-handle'; value: unknown };

/** One generated call: what it is (printed as the counterexample), what the docs expect, how to run and check it. */
export interface Input {
  readonly d: string;
  readonly verdict: Verdict;
  /** Setup before the snapshot (e.g. deleting the key a putIfAbsent is about to write). */
  prepare?(): Promise<void>;
  run(): Promise<Outcome>;
  /** Further checks of a success (e.g. the bytes read back), or of a refusal beyond the snapshot. */
  check?(out: Outcome): Promise<string | undefined>;
}

export const describeError = (e: unknown): string =>
  e instanceof Error ? `${e.constructor.name}: ${e.message.slice(0, 160)}` : `non-error ${typeof e}: ${String(e).slice(0, 80)}`;

/** A typed error, or the caller's own error passed on unchanged (a throwing getter's). */
const typed = (e: unknown): boolean => e instanceof TickstoreError || e instanceof UserThrow;

export function syncForm(f: () => unknown): Outcome {
  try { return { kind: 'ok', value: f() }; } catch (error) { return { kind: 'refused', error }; }
}

function timeout<T>(p: Promise<T>, ms: number): Promise<T | typeof HANG> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<typeof HANG>((r) => { timer = setTimeout(() => r(HANG), ms); })]).finally(() => clearTimeout(timer));
}
const HANG = Symbol('hang');

export async function promiseForm(f: () => unknown, ms = CALL_TIMEOUT_MS): Promise<Outcome> {
  let p: unknown;
  try { p = f(); } catch (error) { return { kind: 'sync-throw', error }; }
  if (!(p instanceof Promise)) return { kind: 'not-promise', value: p };
  try {
    const v = await timeout(p, ms);
    return v === HANG ? { kind: 'hang' } : { kind: 'ok', value: v };
  } catch (error) {
    return { kind: 'refused', error };
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Ticks `ticker` as a room's clock would until `until` holds; a throwing tick() is an outcome. */
export async function drive(ticker: Ticker, until: () => boolean, ms = CALL_TIMEOUT_MS): Promise<Outcome | undefined> {
  const deadline = Date.now() + ms;
  while (!until()) {
    if (Date.now() > deadline) return { kind: 'hang' };
    await turn();
    try { ticker.tick(); } catch (error) { return { kind: 'tick-threw', error }; }
  }
  return undefined;
}

/** A ticker form on a ticker without onResult: the handle at once, then its result at a tick. */
export async function tickerForm(ticker: Ticker, f: () => unknown): Promise<Outcome> {
  const o = syncForm(f);
  if (o.kind !== 'ok') return o;
  const handle = o.value;
  if (typeof handle !== 'number' || !Number.isInteger(handle) || handle <= 0) return { kind: 'bad-handle', value: handle };
  let got: StoreResult | undefined;
  const stuck = await drive(ticker, () => {
    for (let r = ticker.poll(); r; r = ticker.poll()) if (r.handle === handle) got = r;
    return got !== undefined;
  });
  if (stuck) return stuck;
  return got!.ok ? { kind: 'ok', value: got } : { kind: 'late', error: got!.error };
}

/** The rules every call obeys, whatever the entry. */
export function judge(verdict: Verdict, out: Outcome): string | undefined {
  switch (out.kind) {
    case 'hang': return `hang: no answer within ${CALL_TIMEOUT_MS} ms`;
    case 'sync-throw': return `sync throw from a promise form: ${describeError(out.error)}`;
    case 'not-promise': return `promise form returned a non-promise: ${typeof out.value}`;
    case 'tick-threw': return typed(out.error) && out.error instanceof UserThrow ? undefined : `tick() threw: ${describeError(out.error)}`;
    case 'bad-handle': return `ticker form returned no handle: ${String(out.value)}`;
    case 'refused':
      if (!typed(out.error)) return `untyped error: ${describeError(out.error)}`;
      return verdict === 'valid' ? `refused valid input: ${describeError(out.error)}` : undefined;
    case 'late':
      if (!typed(out.error)) return `untyped error in the result: ${describeError(out.error)}`;
      if (verdict === 'invalid') return `accepted at the call site, refused only in its result: ${describeError(out.error)}`;
      return verdict === 'valid' ? `valid input failed in its result: ${describeError(out.error)}` : undefined;
    case 'ok': return verdict === 'invalid' ? 'accepted invalid input' : undefined;
  }
}

/** Never written: an EXISTS of it refreshes the engine's figures. */
const PROBE = '\u0001property-probe';
/**
 * The log's size and its key count; keys the once-a-second expiry sweep has
 * dropped are counted back in, so an earlier input's already-expired put
 * swept meanwhile does not read as a write by this one.
 */
export interface Snap { logBytes: number; keys: number }
export async function snap(store: Store): Promise<Snap> {
  await store.exists(PROBE);
  const m = store.metrics();
  return { logBytes: m.writeLogBytes, keys: m.writeCount + m.expiredKeys };
}
export const sameSnap = (a: Snap, b: Snap): boolean => a.logBytes === b.logBytes && a.keys === b.keys;

/** Every live key and value, hashed (scan pages in key order). */
export async function digest(store: Store): Promise<string> {
  const h = createHash('sha256');
  let cursor: string | undefined;
  let n = 0;
  do {
    const page = await store.scan({ limit: 10_000, ...(cursor ? { cursor } : {}) });
    for (const e of page.entries) { h.update(e.key).update('\0').update(e.value).update('\0'); n++; }
    cursor = page.cursor;
  } while (cursor);
  return `${n}:${h.digest('hex').slice(0, 16)}`;
}

/** Runs one input: judge its outcome, then the snapshot for a refusal and the entry's own checks. */
export async function runInput(store: Store | undefined, input: Input): Promise<string | undefined> {
  await input.prepare?.();
  const before = store ? await snap(store) : undefined;
  const out = await input.run();
  const bad = judge(input.verdict, out);
  if (bad) return bad;
  if (store && before && (out.kind === 'refused' || out.kind === 'late')) {
    const after = await snap(store);
    if (!sameSnap(before, after)) return `wrote something although refused: log ${before.logBytes}→${after.logBytes} bytes, keys ${before.keys}→${after.keys}`;
  }
  return input.check ? input.check(out) : undefined;
}

/** Inputs tried, per entry; printed at the end. */
export const tried = new Map<string, number>();
/** Wall time per entry, ms (printed with the counts, to keep the file's time in view). */
export const took = new Map<string, number>();

/**
 * Checks `body` over `runs` inputs of `arb` (scaled). Fails with fast-check's
 * counterexample and seed; in collect mode, runs them all and fails with one
 * line per failing class (entry, kind of failure, error class) and the
 * shortest input that showed it.
 */
export async function property<T>(entry: string, arb: fc.Arbitrary<T>, runs: number, body: (t: T) => Promise<string | undefined>): Promise<void> {
  const classes = new Map<string, { input: string; why: string }>();
  const started = Date.now();
  let n = 0;
  // An exception nobody can catch (thrown out of the engine's message handler) is a crash: pin it on the input that caused it.
  let uncaught: unknown;
  const others = process.listeners('uncaughtException');
  const trap = (err: unknown): void => { uncaught ??= err; };
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', trap);
  try {
  await fc.assert(fc.asyncProperty(arb, async (t) => {
    n++;
    const result = await body(t);
    await new Promise((r) => setImmediate(r));
    const why = uncaught === undefined ? result : `crash: uncaught exception during this input: ${describeError(uncaught)}`;
    if (!why) return;
    if (!COLLECT || uncaught !== undefined) throw new Error(`${entry}: ${why}`);
    const cls = `${why.split(':')[0]}${/(\w+Error|UserThrow)/.exec(why)?.[1] ? ` (${/(\w+Error|UserThrow)/.exec(why)![1]})` : ''}`;
    const input = fc.stringify(t);
    const seen = classes.get(cls);
    if (!seen || input.length < seen.input.length) classes.set(cls, { input, why });
  }), { numRuns: Math.max(1, Math.round(runs * SCALE)), seed: SEED, endOnFailure: COLLECT || uncaught !== undefined });
  } finally {
    process.removeListener('uncaughtException', trap);
    for (const l of others) process.on('uncaughtException', l);
  }
  tried.set(entry, (tried.get(entry) ?? 0) + n);
  took.set(entry, Date.now() - started);
  if (classes.size > 0) {
    throw new Error(`${entry}: ${classes.size} failing class(es):\n${[...classes].map(([c, e]) => `  - ${c}\n      input: ${e.input}\n      ${e.why}`).join('\n')}`);
  }
}
