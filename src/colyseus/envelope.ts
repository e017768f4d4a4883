import { crc32 } from 'node:zlib';
import { InvalidArgumentError, InvalidValueError, SchemaMismatchError, describeValue, type SchemaMismatchReason } from '../errors.js';
import type { Codec } from './codecs.js';
import { kindName, resolveCodec, type Resolved } from './codecMeta.js';

/*
 * The envelope every record the plugin stores is wrapped in (player records,
 * shared values, room snapshots): it names the codec's kind, schema version
 * and fingerprint, so that a record written with another definition is
 * migrated or refused, never decoded into a silently wrong value. Every byte
 * is specified in docs/records.md; change that page with this file.
 *
 *   0  u8   magic 0xC1 (never the first byte of JSON text, UTF-8 or MessagePack)
 *   1  u8   magic 0x54 ('T')
 *   2  u8   envelope format version (1)
 *   3  u8   codec kind: 0 custom, 1 json, 2 msgpack, 3 schema
 *   4  u16  schema version, LE (1..65535)
 *   6  8B   schema fingerprint (all zero: none)
 *   14 u32  CRC-32 of bytes 0..13 then the payload, LE
 *   18 …    payload: the codec's bytes
 */

/** The envelope's first two bytes. */
export const ENVELOPE_MAGIC = [0xc1, 0x54] as const;
/** The envelope format this code writes and reads. */
export const ENVELOPE_FORMAT = 1;
/** Bytes before the payload. */
export const ENVELOPE_HEADER_BYTES = 18;
const CRC_AT = 14;

/** A codec's constant 14 header bytes and their CRC, built once per codec (on first use: a schema fingerprint is lazy). */
interface Header { bytes: Uint8Array; crc: number }
const headers = new WeakMap<Resolved, Header>();

function headerOf(r: Resolved): Header {
  let h = headers.get(r);
  if (!h) {
    const bytes = new Uint8Array(CRC_AT);
    bytes[0] = ENVELOPE_MAGIC[0];
    bytes[1] = ENVELOPE_MAGIC[1];
    bytes[2] = ENVELOPE_FORMAT;
    bytes[3] = r.kind;
    bytes[4] = r.version & 0xff;
    bytes[5] = r.version >>> 8;
    bytes.set(r.fingerprintBytes, 6);
    h = { bytes, crc: crc32(bytes) };
    headers.set(r, h);
  }
  return h;
}

/**
 * The stored bytes of `value`: `codec`'s encoding in the record envelope
 * (18 bytes: the codec's kind, version and fingerprint, and a CRC-32; see
 * docs/records.md). The plugin stores every record this way; use it for
 * bytes you put yourself that plugin methods will read.
 *
 * @param codec The codec (any object with `encode` and `decode`; see {@link Codec}).
 * @param value The value to encode.
 * @returns A new buffer: header, then the codec's bytes.
 * @throws {@link InvalidArgumentError} `codec` is not a codec, or its metadata is out of range.
 * @throws {@link InvalidValueError} `codec.encode` returned something that is not a `Uint8Array`.
 * @throws Whatever `codec.encode` throws.
 *
 * @example
 * ```ts
 * await store.put(key, encodeRecord(profileCodec, profile));
 * ```
 */
export function encodeRecord<T>(codec: Codec<T>, value: T): Uint8Array {
  const r = resolveCodec(codec);
  const h = headerOf(r);
  const payload: unknown = codec.encode(value);
  if (!(payload instanceof Uint8Array)) {
    throw new InvalidValueError(`the codec's encode must return a Uint8Array, got ${describeValue(payload)}`);
  }
  const out = new Uint8Array(ENVELOPE_HEADER_BYTES + payload.length);
  out.set(h.bytes, 0);
  out.set(payload, ENVELOPE_HEADER_BYTES);
  const crc = crc32(payload, h.crc);
  out[CRC_AT] = crc & 0xff;
  out[CRC_AT + 1] = (crc >>> 8) & 0xff;
  out[CRC_AT + 2] = (crc >>> 16) & 0xff;
  out[CRC_AT + 3] = crc >>> 24;
  return out;
}

/** What is known of a stored record, for its error. */
interface Stored { version: number | undefined; fingerprint: string | undefined; kind?: number }

const hex = (b: Uint8Array, from: number, to: number): string => {
  let s = '';
  for (let i = from; i < to; i++) s += (b[i]! < 16 ? '0' : '') + b[i]!.toString(16);
  return s;
};

/**
 * The value stored as `bytes` (made by {@link encodeRecord}), migrated to
 * `codec`'s version when it was written by an older one. Decodes only when
 * the record's kind, version and fingerprint are the codec's; an older
 * version is decoded with the definition of that version (its migration's
 * `from`) and migrated step by step. Records written before the envelope
 * existed are taken to be `codec.legacyVersion` (JSON and MessagePack: 1;
 * schema: refused unless named). Anything else is refused: never a wrong value.
 *
 * @param codec The codec of the current version.
 * @param bytes The stored bytes.
 * @param key The record's key, named in the error (optional).
 * @returns The decoded (and, from an older version, migrated) value.
 * @throws {@link SchemaMismatchError} The record is of another kind, another definition at the same version, a newer version (a rollback), an older version without migrations to this one, a legacy record the codec refuses, garbled or truncated, or its payload did not decode (or a migration threw); `reason` says which.
 * @throws {@link InvalidArgumentError} `codec` is not a codec (or its metadata is out of range), or `key` is not a string.
 * @throws {@link InvalidValueError} `bytes` is not a `Uint8Array`.
 *
 * @example
 * ```ts
 * this.plugins.store.watch({ key: WORLD_COUNTER }, (change) => {
 *   this.state.counter = change.value ? decodeRecord(counterCodec, change.value, WORLD_COUNTER) : 0;
 * });
 * ```
 */
export function decodeRecord<T>(codec: Codec<T>, bytes: Uint8Array, key?: string): T {
  const r = resolveCodec(codec);
  if (!(bytes instanceof Uint8Array)) throw new InvalidValueError(`a stored record must be a Uint8Array, got ${describeValue(bytes)}`);
  if (key !== undefined && typeof key !== 'string') throw new InvalidArgumentError(`key must be a string, got ${describeValue(key)}`);
  return decodeChecked(r, bytes, key) as T;
}

function decodeChecked(r: Resolved, bytes: Uint8Array, key: string | undefined): unknown {
  // The common case first: a record this codec wrote, whose 14 header bytes are the codec's own.
  const h = headerOf(r);
  if (bytes.length >= ENVELOPE_HEADER_BYTES && sameBytes(bytes, h.bytes, CRC_AT)) {
    const payload = bytes.subarray(ENVELOPE_HEADER_BYTES);
    if (crc32(payload, h.crc) === storedCrc(bytes)) {
      try {
        return r.codec.decode(payload);
      } catch (err) {
        throw mismatch(r, key, 'decode-failed', `the payload did not decode: ${messageOf(err)}`, storedOf(bytes), err);
      }
    }
  }
  return decodeSlow(r, bytes, key);
}

const unknownStored: Stored = { version: undefined, fingerprint: undefined };

/** Every other case: legacy bytes, another version (migrated), or a refusal saying why. */
function decodeSlow(r: Resolved, bytes: Uint8Array, key: string | undefined): unknown {
  if (bytes.length < 2 || bytes[0] !== ENVELOPE_MAGIC[0] || bytes[1] !== ENVELOPE_MAGIC[1]) {
    if (r.legacyVersion === undefined) {
      throw mismatch(r, key, 'legacy', `a record without an envelope (written before schema versions), and this ${kindName(r.kind)} codec accepts none (set legacyVersion to the version that wrote it)`, unknownStored);
    }
    return fromVersion(r, key, r.legacyVersion, bytes, { version: r.legacyVersion, fingerprint: undefined });
  }
  if (bytes.length < ENVELOPE_HEADER_BYTES) throw mismatch(r, key, 'garbled', `truncated envelope (${bytes.length} bytes, the header is ${ENVELOPE_HEADER_BYTES})`, unknownStored);
  if (bytes[2] !== ENVELOPE_FORMAT) throw mismatch(r, key, 'garbled', `unknown envelope format ${bytes[2]} (this code reads ${ENVELOPE_FORMAT}: written by a newer tickstore?)`, unknownStored);
  if (crc32(bytes.subarray(ENVELOPE_HEADER_BYTES), crc32(bytes.subarray(0, CRC_AT))) !== storedCrc(bytes)) {
    throw mismatch(r, key, 'garbled', 'envelope checksum mismatch (truncated or damaged bytes)', unknownStored);
  }
  const stored = storedOf(bytes);
  const version = stored.version!;
  const kind = bytes[3]!;
  if (version === r.version) {
    if (kind !== r.kind) throw mismatch(r, key, 'codec-kind', `written by a ${kindName(kind)} codec, read with a ${kindName(r.kind)} codec`, stored);
    // Same kind and version, and the header differs: only the fingerprint is left.
    throw mismatch(r, key, 'fingerprint', 'written with another definition at the same version (the definition changed without a version bump and a migration)', stored);
  }
  return fromVersion(r, key, version, bytes.subarray(ENVELOPE_HEADER_BYTES), { ...stored, kind });
}

/** Decodes a payload of an older (or the legacy) version with that version's definition, then migrates it step by step. */
function fromVersion(r: Resolved, key: string | undefined, version: number, payload: Uint8Array, stored: Stored): unknown {
  if (version > r.version) {
    throw mismatch(r, key, 'newer-version', `written by version ${version}, newer than this code's ${r.version} (a rollback? such records are refused until the newer code runs again)`, stored);
  }
  if (version === r.version) return decodePayload(r, key, () => r.codec.decode(payload), stored);
  for (let v = version + 1; v <= r.version; v++) {
    if (!r.steps.has(v)) throw mismatch(r, key, 'no-migration', `written by version ${version}, and there is no migration to version ${v}`, stored);
  }
  const first = r.steps.get(version + 1)!;
  // A legacy record has neither kind nor fingerprint: the codec's legacyVersion vouches for it.
  if (stored.kind !== undefined) {
    if (stored.kind !== first.fromKind) {
      throw mismatch(r, key, 'codec-kind', `written by version ${version} with a ${kindName(stored.kind)} codec; its migration reads ${kindName(first.fromKind)}`, stored);
    }
    const expected = first.fromFingerprint();
    if (stored.fingerprint !== expected) {
      throw mismatch(r, key, 'fingerprint', `written by version ${version} with another definition than the one its migration names (fingerprint ${expected})`, stored);
    }
  }
  let value = decodePayload(r, key, () => first.decode(payload), stored);
  for (let v = version + 1; v <= r.version; v++) {
    try {
      value = r.steps.get(v)!.migrate(value);
    } catch (err) {
      throw mismatch(r, key, 'migration-failed', `the migration to version ${v} threw ${messageOf(err)}`, stored, err);
    }
  }
  return value;
}

function decodePayload(r: Resolved, key: string | undefined, decode: () => unknown, stored: Stored): unknown {
  try {
    return decode();
  } catch (err) {
    throw mismatch(r, key, 'decode-failed', `the payload did not decode: ${messageOf(err)}`, stored, err);
  }
}

function mismatch(r: Resolved, key: string | undefined, reason: SchemaMismatchReason, why: string, stored: Stored, cause?: unknown): SchemaMismatchError {
  return new SchemaMismatchError({
    reason, key, storedVersion: stored.version, expectedVersion: r.version,
    storedFingerprint: stored.fingerprint, expectedFingerprint: r.fingerprint, why, cause,
  });
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : describeValue(err));

/** The version and fingerprint in a (well-formed) envelope header. */
const storedOf = (bytes: Uint8Array): Stored => ({ version: bytes[4]! | (bytes[5]! << 8), fingerprint: hex(bytes, 6, CRC_AT) });

const storedCrc = (b: Uint8Array): number => (b[CRC_AT]! | (b[CRC_AT + 1]! << 8) | (b[CRC_AT + 2]! << 16) | (b[CRC_AT + 3]! << 24)) >>> 0;

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
