import { InvalidArgumentError, describeValue } from '../errors.js';
import { guard } from '../input.js';

/*
 * What an economy request moves: coins and counts of item kinds. Read once
 * from the caller's object (getters and Proxies cannot change it later, nor
 * throw raw) into a normal form: every amount a positive safe integer, kinds
 * sorted, nothing zero — so two equal requests encode to the same bytes.
 */

/** Coins and item counts as a caller passes them (any field may be left out). */
export interface AssetsInput {
  /** A positive safe integer, or absent. */
  coins?: number;
  /** Item kind → a positive safe integer. Kinds: 1..{@link MAX_KIND_LENGTH} characters of `A-Z a-z 0-9 _ . -`. */
  items?: Readonly<Record<string, number>>;
}

/** Coins and item counts in normal form: `coins` ≥ 0, `items` sorted by kind with no zero count. */
export interface Assets {
  coins: number;
  items: Record<string, number>;
}

/** Longest item kind: 32 characters. */
export const MAX_KIND_LENGTH = 32;
/** Most item kinds one request (or one side of a trade) may name: 64. */
export const MAX_KINDS_PER_REQUEST = 64;
/** Longest idempotency key: 128 characters of `A-Z a-z 0-9 _ . : -`. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

const KIND = /^[A-Za-z0-9_.-]+$/;
const IDEMPOTENCY = /^[A-Za-z0-9_.:-]+$/;
const argError = (m: string): InvalidArgumentError => new InvalidArgumentError(m);

/** Empty assets. */
export const none = (): Assets => ({ coins: 0, items: {} });

/** Whether `a` moves nothing. */
export const isEmpty = (a: Assets): boolean => a.coins === 0 && Object.keys(a.items).length === 0;

function amount(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new InvalidArgumentError(`${name} must be a positive safe integer, got ${describeValue(v)}`);
  return v;
}

/** Checks an item kind. */
export function checkKind(kind: unknown): string {
  if (typeof kind !== 'string' || kind.length === 0 || kind.length > MAX_KIND_LENGTH || !KIND.test(kind)) {
    throw new InvalidArgumentError(`an item kind must be 1..${MAX_KIND_LENGTH} characters of A-Z a-z 0-9 _ . -, got ${describeValue(kind)}`);
  }
  return kind;
}

/**
 * Reads `input` (named `what` in errors) into normal form.
 *
 * @throws {@link InvalidArgumentError} Not an object, an unknown field, a bad kind, an amount that is not a positive safe integer, or more than MAX_KINDS_PER_REQUEST kinds.
 */
export function checkAssets(what: string, input: unknown): Assets {
  return guard(what, argError, () => {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new InvalidArgumentError(`${what} must be an object { coins?, items? }, got ${describeValue(input)}`);
    for (const k in input) if (k !== 'coins' && k !== 'items') throw new InvalidArgumentError(`${what}: unknown field ${describeValue(k)} (expected coins, items)`);
    const o = input as { coins?: unknown; items?: unknown };
    const coins = o.coins === undefined ? 0 : amount(`${what}.coins`, o.coins);
    const items: Record<string, number> = {};
    if (o.items !== undefined) {
      const src = o.items;
      if (src === null || typeof src !== 'object' || Array.isArray(src)) throw new InvalidArgumentError(`${what}.items must be an object of kind → count, got ${describeValue(src)}`);
      const kinds = Object.keys(src);
      if (kinds.length > MAX_KINDS_PER_REQUEST) throw new InvalidArgumentError(`${what}.items names ${kinds.length} kinds; at most ${MAX_KINDS_PER_REQUEST}`);
      for (const kind of kinds.sort()) items[checkKind(kind)] = amount(`${what}.items[${JSON.stringify(kind)}]`, (src as Record<string, unknown>)[kind]);
    }
    return { coins, items };
  });
}

/**
 * Checks an idempotency key: the caller's name for one request, so that a
 * retry of it (after a lost answer, a reconnect, a crash) applies it once.
 *
 * @throws {@link InvalidArgumentError} Not 1..MAX_IDEMPOTENCY_KEY_LENGTH characters of `A-Z a-z 0-9 _ . : -`.
 */
export function checkIdempotencyKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !IDEMPOTENCY.test(key)) {
    throw new InvalidArgumentError(`an idempotency key must be 1..${MAX_IDEMPOTENCY_KEY_LENGTH} characters of A-Z a-z 0-9 _ . : -, got ${describeValue(key)}`);
  }
  return key;
}

/** Reads a plain-JSON assets object that this module wrote (a wallet, a ledger entry); undefined when it is not one. */
export function parseAssets(v: unknown): Assets | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const { coins, items } = v as { coins?: unknown; items?: unknown };
  if (typeof coins !== 'number' || !Number.isSafeInteger(coins) || coins < 0) return undefined;
  if (items === null || typeof items !== 'object' || Array.isArray(items)) return undefined;
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(items as Record<string, unknown>)) {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) return undefined;
    out[k] = n;
  }
  return { coins, items: out };
}
