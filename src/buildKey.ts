import { InvalidArgumentError, describeValue } from './errors.js';
import { guard } from './input.js';

const argError = (m: string): InvalidArgumentError => new InvalidArgumentError(m);

const MAX_U32 = 0xffff_ffffn;
const MAX_U64 = 0xffff_ffff_ffff_ffffn;
/** Most params one key may carry: 32 (keeps every key well under {@link MAX_KEY_BYTES}). */
export const MAX_KEY_PARAMS = 32;

function toBig(name: string, v: unknown, max: bigint): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new InvalidArgumentError(`${name} must be a whole number, got ${describeValue(v)}`);
    if (!Number.isSafeInteger(v)) throw new InvalidArgumentError(`${name} ${v} is beyond 2^53; pass it as a bigint`);
    b = BigInt(v);
  } else {
    throw new InvalidArgumentError(`${name} must be a number or bigint, got ${describeValue(v)}`);
  }
  if (b < 0n || b > max) throw new InvalidArgumentError(`${name} ${b} is outside 0..${max}`);
  return b;
}

function hex(b: bigint, width: number): string {
  return b.toString(16).padStart(width, '0');
}

/**
 * The prefix every key of one (funcId, userId) starts with: a prefix scan
 * over it lists exactly that player's records for that function.
 *
 * @param funcId A u32 (0..2^32-1), as a number or bigint.
 * @param userId A u64 (0..2^64-1), as a bigint or a safe-integer number.
 * @returns `ffffffff:uuuuuuuuuuuuuuuu` (fixed-width lowercase hex).
 * @throws {@link InvalidArgumentError} An id that is not a whole number or bigint in range (a number beyond 2^53 must be passed as a bigint).
 *
 * @example
 * ```ts
 * keyPrefix(1, 42n);   // '00000001:000000000000002a'
 * const page = await store.scan({ prefix: keyPrefix(1, 42n) });
 * ```
 */
export function keyPrefix(funcId: number | bigint, userId: number | bigint): string {
  return `${hex(toBig('funcId', funcId, MAX_U32), 8)}:${hex(toBig('userId', userId, MAX_U64), 16)}`;
}

/**
 * A deterministic composite key from a function id (u32), a user id (u64) and
 * up to 32 params (u64), as numbers or bigints:
 *
 *     ffffffff:uuuuuuuuuuuuuuuu[:pppppppppppppppp]…
 *
 * Fixed-width lowercase hex, so the same inputs give byte-identical keys on
 * any peer, run or platform; distinct inputs give distinct keys; and, sorted
 * as strings, one player's keys for one function sort by their params
 * numerically (a shorter param list first). Every key of one
 * `(funcId, userId)` starts with {@link keyPrefix}`(funcId, userId)`.
 *
 * @param funcId A u32 (0..2^32-1), as a number or bigint.
 * @param userId A u64 (0..2^64-1), as a bigint or a safe-integer number.
 * @param params Up to {@link MAX_KEY_PARAMS} u64 params (default none).
 * @returns The key.
 * @throws {@link InvalidArgumentError} An id or param that is not a whole number or bigint in range (a number beyond 2^53 must be passed as a bigint), `params` not an array, or more than 32 params.
 *
 * @example
 * ```ts
 * buildKey(1, 42n, [7]);   // '00000001:000000000000002a:0000000000000007'
 * await store.put(buildKey(2, userId, [itemId]), itemBytes);
 * ```
 */
export function buildKey(funcId: number | bigint, userId: number | bigint, params: readonly (number | bigint)[] = []): string {
  // params may be any object (a Proxy, getters): reading it must not throw raw.
  return guard('params', argError, () => {
    if (!Array.isArray(params)) throw new InvalidArgumentError(`params must be an array, got ${describeValue(params)}`);
    const n = params.length;
    if (n > MAX_KEY_PARAMS) throw new InvalidArgumentError(`at most ${MAX_KEY_PARAMS} params, got ${n}`);
    let key = keyPrefix(funcId, userId);
    for (let i = 0; i < n; i++) key += ':' + hex(toBig(`params[${i}]`, params[i], MAX_U64), 16);
    return key;
  });
}
