import type { Codec } from './codecs.js';

/*
 * The envelope every record the plugin stores is wrapped in (player records,
 * shared values, room snapshots): it names the codec's schema and version,
 * so that a record written with another definition is migrated or refused,
 * never decoded into a silently wrong value. (Placeholder: passes bytes
 * through until the envelope lands.)
 */

/** The stored bytes of `value`: `codec`'s encoding, in the record envelope. */
export function encodeRecord<T>(codec: Codec<T>, value: T): Uint8Array {
  return codec.encode(value);
}

/** The value stored as `bytes` (made by {@link encodeRecord}), migrated to `codec`'s version when it was written with an older one. */
export function decodeRecord<T>(codec: Codec<T>, bytes: Uint8Array): T {
  return codec.decode(bytes);
}
