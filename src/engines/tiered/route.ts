import type { ScanSpec } from '../../backend.js';
import { InvalidArgumentError, InvalidConfigError, describeValue } from '../../errors.js';
import { compareKeys } from '../../keys.js';

/** The class a key belongs to: durable keys live in the primary (and backup), ephemeral ones only in the ephemeral tier. */
export type KeyClass = 'durable' | 'ephemeral';

/**
 * Which keys are ephemeral: a function of the key (pure: the same key must
 * always get the same answer, or its data is stranded in the other tier),
 * or a list of key prefixes (the default route). With a prefix list the
 * router knows which scan ranges can hold ephemeral keys, so a scan of a
 * durable-only range never asks the ephemeral tier (and survives its failure).
 */
export type TierRoute = ((key: string) => KeyClass) | { readonly ephemeral: readonly string[] };

/** Which tiers a scan must read. */
export interface ScanTiers { durable: boolean; ephemeral: boolean }

/** A route, checked once, answering per key and per scan range. */
export interface Router {
  classOf(key: string): KeyClass;
  scanTiers(spec: ScanSpec): ScanTiers;
}

const BOTH: ScanTiers = Object.freeze({ durable: true, ephemeral: true });
const DURABLE_ONLY: ScanTiers = Object.freeze({ durable: true, ephemeral: false });
const EPHEMERAL_ONLY: ScanTiers = Object.freeze({ durable: false, ephemeral: true });

/** Checks `route` (read once) and builds its router; `hasEphemeral` false: every key is durable. */
export function makeRouter(route: unknown, hasEphemeral: boolean): Router {
  if (!hasEphemeral) {
    if (route !== undefined) throw new InvalidConfigError('route needs an ephemeral tier to route keys to');
    return { classOf: () => 'durable', scanTiers: () => DURABLE_ONLY };
  }
  if (typeof route === 'function') return functionRouter(route as (key: string) => unknown);
  if (route !== null && typeof route === 'object') {
    let list: unknown;
    try { list = (route as { ephemeral?: unknown }).ephemeral; } catch (err) {
      throw new InvalidConfigError(`route.ephemeral could not be read: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!Array.isArray(list) || list.length === 0 || !list.every((p) => typeof p === 'string' && p.length > 0 && p.isWellFormed())) {
      throw new InvalidConfigError(`route.ephemeral must be a non-empty array of non-empty key prefixes, got ${describeValue(list)}`);
    }
    return prefixRouter([...(list as string[])]);
  }
  throw new InvalidConfigError(`route must be a function (key) => 'durable' | 'ephemeral' or { ephemeral: [prefixes] }, got ${describeValue(route)}`);
}

function functionRouter(fn: (key: string) => unknown): Router {
  return {
    classOf(key) {
      let c: unknown;
      try { c = fn(key); } catch (err) {
        throw new InvalidArgumentError(`the tier route threw for key ${JSON.stringify(key)}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (c !== 'durable' && c !== 'ephemeral') throw new InvalidArgumentError(`the tier route must return 'durable' or 'ephemeral', got ${describeValue(c)} for key ${JSON.stringify(key)}`);
      return c;
    },
    // Nothing is known of an opaque function's ranges: every scan reads both tiers.
    scanTiers: () => BOTH,
  };
}

function prefixRouter(prefixes: readonly string[]): Router {
  return {
    classOf: (key) => (prefixes.some((p) => key.startsWith(p)) ? 'ephemeral' : 'durable'),
    scanTiers(spec) {
      if (spec.prefix !== undefined && prefixes.some((p) => spec.prefix!.startsWith(p))) return EPHEMERAL_ONLY;
      return prefixes.some((p) => mayHoldPrefix(spec, p)) ? BOTH : DURABLE_ONLY;
    },
  };
}

/**
 * Whether a key starting with `p` can fall in the scan's range. Keys sharing
 * a prefix are contiguous in key order, so it is enough to find the least
 * such key above the lower bound and test it against the upper one.
 */
export function mayHoldPrefix(spec: Pick<ScanSpec, 'prefix' | 'gt' | 'gte' | 'lt' | 'lte'>, p: string): boolean {
  let q = p;
  if (spec.prefix !== undefined) {
    if (spec.prefix.startsWith(p)) q = spec.prefix;
    else if (!p.startsWith(spec.prefix)) return false;
  }
  let least = q;
  // Each lower bound is upward closed: the least key meeting both is the larger of the least meeting each.
  for (const [low, strict] of [[spec.gt, true], [spec.gte, false]] as const) {
    if (low === undefined) continue;
    let l: string;
    if (low.startsWith(q)) l = strict ? `${low}\u0000` : low;
    else if (compareKeys(low, q) < 0) l = q;
    else return false;
    if (compareKeys(l, least) > 0) least = l;
  }
  if (spec.lt !== undefined && compareKeys(least, spec.lt) >= 0) return false;
  if (spec.lte !== undefined && compareKeys(least, spec.lte) > 0) return false;
  return true;
}
