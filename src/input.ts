import { InvalidKeyError, InvalidValueError } from './errors.js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from './engine/record.js';

export { MAX_KEY_BYTES, MAX_VALUE_BYTES };

/**
 * Checks a key and returns its UTF-8 length. Keys are non-empty, well-formed
 * strings (no lone surrogates: they would not round-trip through UTF-8) of at
 * most MAX_KEY_BYTES bytes.
 */
export function checkKey(key: unknown): number {
  if (typeof key !== 'string') throw new InvalidKeyError(`key must be a string, got ${typeof key}`);
  if (key.length === 0) throw new InvalidKeyError('key must not be empty');
  if (key.length > MAX_KEY_BYTES) throw new InvalidKeyError(`key is longer than ${MAX_KEY_BYTES} bytes`);
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) throw new InvalidKeyError(`key is ${bytes} bytes; the maximum is ${MAX_KEY_BYTES}`);
  if (!key.isWellFormed()) throw new InvalidKeyError('key contains a lone surrogate (not valid UTF-8)');
  return bytes;
}

/** Checks a value: a Uint8Array (Buffer included) of at most MAX_VALUE_BYTES; empty is a value. */
export function checkValue(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidValueError(`value must be a Uint8Array, got ${value === null ? 'null' : typeof value}`);
  }
  if (value.length > MAX_VALUE_BYTES) {
    throw new InvalidValueError(`value is ${value.length} bytes; the maximum is ${MAX_VALUE_BYTES}`);
  }
  return value;
}
