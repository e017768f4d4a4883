import { InvalidArgumentError, describeValue } from '../errors.js';

const MAX_U64 = 0xffff_ffff_ffff_ffffn;

/**
 * @internal Reads a user id (a u64, as a bigint or a safe-integer number) into a bigint.
 *
 * @throws {@link InvalidArgumentError} Not a whole number in 0..2^64-1 (a number beyond 2^53 must be a bigint).
 */
export function checkUserId(name: string, v: unknown): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
  else throw new InvalidArgumentError(`${name} must be a bigint or a safe integer, got ${describeValue(v)}`);
  if (b < 0n || b > MAX_U64) throw new InvalidArgumentError(`${name} ${b} is outside 0..2^64-1`);
  return b;
}
