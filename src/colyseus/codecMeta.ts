import { InvalidArgumentError, describeValue } from '../errors.js';
import { guard } from '../input.js';
import type { Codec, CodecKind, Migration } from './codecs.js';

/*
 * What the envelope needs to know about a codec — its kind, version,
 * fingerprint, migration steps and legacy rule — read from the codec's
 * optional metadata once, checked, and cached per codec object, so the hot
 * path (every record encoded or decoded) is one WeakMap lookup.
 */

/** The kind byte stored in the envelope, per codec kind (docs/records.md). */
export const KIND_BYTE: Readonly<Record<CodecKind, number>> = { custom: 0, json: 1, msgpack: 2, schema: 3 };
const KIND_NAME: readonly CodecKind[] = ['custom', 'json', 'msgpack', 'schema'];

/** The name of a stored kind byte (for messages). */
export const kindName = (b: number): string => KIND_NAME[b] ?? `unknown kind ${b}`;

/** The largest schema version the envelope holds (a u16). */
export const MAX_SCHEMA_VERSION = 0xffff;
/** The fingerprint of a codec without one. */
export const NO_FINGERPRINT = '0000000000000000';

/** How to read version `target - 1` records and turn them into version `target` values. */
export interface ResolvedStep {
  /** Decodes a payload written by version `target - 1`. */
  readonly decode: (bytes: Uint8Array) => unknown;
  /** The kind version `target - 1` wrote (checked before decoding). */
  readonly fromKind: number;
  /** The fingerprint version `target - 1` wrote (checked before decoding). */
  readonly fromFingerprint: () => string;
  readonly migrate: (old: unknown) => unknown;
}

/** A codec's checked metadata. The fingerprint is computed on first use (a schema class's subclasses may be defined after its codec). */
export interface Resolved {
  readonly codec: Codec<unknown>;
  readonly kind: number;
  readonly version: number;
  /** 16 lowercase hex digits. */
  readonly fingerprint: string;
  /** The fingerprint's 8 bytes. */
  readonly fingerprintBytes: Uint8Array;
  /** Migration steps by target version (2..version). */
  readonly steps: ReadonlyMap<number, ResolvedStep>;
  /** The version records without an envelope are taken to be; undefined: such records are refused. */
  readonly legacyVersion: number | undefined;
}

const cache = new WeakMap<object, Resolved>();

/**
 * The checked metadata of `codec` (cached). Any object with `encode` and
 * `decode` functions is a codec; `kind` defaults to `'custom'`, `version`
 * to 1, `fingerprint` to none, and a custom codec accepts no legacy records
 * unless it says `legacyVersion`.
 *
 * @throws {@link InvalidArgumentError} Not a codec, or metadata out of range (see {@link Codec}).
 */
export function resolveCodec(codec: unknown): Resolved {
  const hit = cache.get(codec as object);
  if (hit) return hit;
  const r = guard('the codec', (m) => new InvalidArgumentError(m), () => readCodec(codec, 'codec'));
  cache.set(codec as object, r);
  return r;
}

function readCodec(codec: unknown, what: string): Resolved {
  const c = codec as Partial<Codec<unknown>> | null;
  if (c === null || typeof c !== 'object' || typeof c.encode !== 'function' || typeof c.decode !== 'function') {
    throw new InvalidArgumentError(`${what} must be an object with encode and decode functions, got ${describeValue(codec)}`);
  }
  const kindText = c.kind ?? 'custom';
  const kind = (KIND_BYTE as Record<string, number | undefined>)[kindText as string];
  if (kind === undefined) throw new InvalidArgumentError(`${what}.kind must be one of ${KIND_NAME.join(', ')}, got ${describeValue(kindText)}`);
  const version = checkVersion(`${what}.version`, c.version ?? 1);
  const legacy = c.legacyVersion;
  if (legacy !== undefined && (checkVersion(`${what}.legacyVersion`, legacy) > version)) {
    throw new InvalidArgumentError(`${what}.legacyVersion (${legacy}) is newer than its version (${version})`);
  }
  const decode = c.decode.bind(c) as (b: Uint8Array) => unknown;
  const steps = readMigrations(c.migrations, version, kind, decode, what);
  let fp: { text: string; bytes: Uint8Array } | undefined;
  const fingerprint = (): { text: string; bytes: Uint8Array } => {
    if (!fp) {
      // Read on first need, not when the codec is checked: a schema codec computes its fingerprint on
      // first access (subclasses registered for its polymorphic fields may be defined after the codec).
      const text = guard(`${what}.fingerprint`, (m) => new InvalidArgumentError(m), () => c.fingerprint ?? NO_FINGERPRINT);
      if (typeof text !== 'string' || !/^[0-9a-f]{16}$/.test(text)) {
        throw new InvalidArgumentError(`${what}.fingerprint must be 16 lowercase hex digits (see fingerprintOf), got ${describeValue(text)}`);
      }
      fp = { text, bytes: Uint8Array.from(Buffer.from(text, 'hex')) };
    }
    return fp;
  };
  return {
    codec: c as Codec<unknown>, kind, version, steps, legacyVersion: legacy,
    get fingerprint() { return fingerprint().text; },
    get fingerprintBytes() { return fingerprint().bytes; },
  };
}

function checkVersion(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_SCHEMA_VERSION) {
    throw new InvalidArgumentError(`${name} must be an integer in 1..${MAX_SCHEMA_VERSION}, got ${describeValue(v)}`);
  }
  return v;
}

/**
 * Checks a codec's `migrations`: keys are target versions 2..version, each
 * a function or `{ from?, migrate }`; a step without `from` reads the older
 * records with the codec's own `decode` and the same kind, no fingerprint
 * (right for JSON and MessagePack, whose bytes do not depend on a
 * definition). A schema codec's steps always name `from`.
 */
function readMigrations(m: unknown, version: number, kind: number, ownDecode: (b: Uint8Array) => unknown, what: string): ReadonlyMap<number, ResolvedStep> {
  const steps = new Map<number, ResolvedStep>();
  if (m === undefined) return steps;
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new InvalidArgumentError(`${what}.migrations must be an object keyed by version, got ${describeValue(m)}`);
  for (const k of Object.keys(m)) {
    const target = Number(k);
    if (!/^[1-9][0-9]*$/.test(k) || target < 2 || target > version) {
      throw new InvalidArgumentError(`${what}.migrations key ${describeValue(k)}: a migration is keyed by the version it migrates to, 2..${version} (the codec's version)`);
    }
    const step = (m as Record<string, Migration>)[k];
    const name = `${what}.migrations[${k}]`;
    let migrate: unknown;
    let from: unknown;
    if (typeof step === 'function') migrate = step;
    else if (step !== null && typeof step === 'object') ({ migrate, from } = step);
    else throw new InvalidArgumentError(`${name} must be a function or { from, migrate }, got ${describeValue(step)}`);
    if (typeof migrate !== 'function') throw new InvalidArgumentError(`${name}.migrate must be a function, got ${describeValue(migrate)}`);
    const fn = migrate as (old: unknown) => unknown;
    if (from === undefined) {
      if (kind === KIND_BYTE.schema) throw new InvalidArgumentError(`${name} needs from: the schema class (or codec) of version ${target - 1}, to decode its records`);
      steps.set(target, { decode: ownDecode, fromKind: kind, fromFingerprint: () => NO_FINGERPRINT, migrate: (old) => fn.call(step, old) });
      continue;
    }
    const older = readCodec(from, `${name}.from`);
    if ((from as Codec<unknown>).version !== undefined && older.version !== target - 1) {
      throw new InvalidArgumentError(`${name}.from is version ${older.version}; the step to ${target} migrates from version ${target - 1}`);
    }
    steps.set(target, {
      decode: older.codec.decode.bind(older.codec) as (b: Uint8Array) => unknown,
      fromKind: older.kind, fromFingerprint: () => older.fingerprint, migrate: (old) => fn.call(step, old),
    });
  }
  return steps;
}
