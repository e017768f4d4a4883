import { Decoder, Encoder, type Schema } from '@colyseus/schema';
import { Packr } from 'msgpackr';
import { InvalidArgumentError, SchemaMismatchError, describeValue } from '../errors.js';
import { guard, readOptions } from '../input.js';
import { resolveCodec } from './codecMeta.js';
import { checkSchemaClass, schemaFingerprint, type SchemaClass } from './schemaFingerprint.js';

export type { SchemaClass } from './schemaFingerprint.js';

/** Which family of codec wrote a record (stored in its envelope, see docs/records.md). */
export type CodecKind = 'json' | 'msgpack' | 'schema' | 'custom';

/**
 * One migration step, keyed in `migrations` by the version it produces
 * (`2` migrates version 1 records to version 2). `from` says how version
 * `n - 1` records were encoded: for a schema codec its schema class (or a
 * codec), required, since schema bytes can only be read with the definition
 * that wrote them; for JSON and MessagePack it is not needed. `migrate`
 * gets the decoded version `n - 1` value and returns the version `n` one
 * (declared as a method so a step may type its parameter, e.g.
 * `migrate(old: InventoryV1)`).
 */
export interface MigrationStep {
  readonly from?: Codec<unknown> | SchemaClass;
  migrate(old: unknown): unknown;
}

/** A migration step, or (for JSON and MessagePack) just its `migrate` function. */
export type Migration = MigrationStep | ((old: unknown) => unknown);

/** Migration steps keyed by the version each produces (2..the codec's version). */
export type Migrations = Readonly<Record<number, Migration>>;

/**
 * What a codec's records are: {@link Codec.version} and its
 * {@link Codec.migrations}, and which version records written before the
 * envelope existed are taken to be.
 */
export interface CodecOptions {
  /** The version this code writes (1..65535); default 1. Bump it with every change to the stored shape, and add a migration to it. */
  version?: number;
  /** Steps from older versions, keyed by the version each produces. */
  migrations?: Migrations;
  /**
   * Records written before the envelope existed (plain codec bytes): the
   * version they are taken to be, or `false` to refuse them with
   * {@link SchemaMismatchError}. Default: 1 for JSON and MessagePack (their
   * bytes say what they hold); refused for schema codecs unless you name
   * the version (schema bytes read with another definition are silently
   * wrong, so only you can vouch for them).
   */
  legacyVersion?: number | false;
}

/**
 * Turns values into stored bytes and back: what {@link RecordSpec} and the
 * plugin's shared-value methods use. Any object with `encode` and `decode`
 * is a codec; tickstore ships {@link jsonCodec}, {@link msgpackCodec} and
 * {@link schemaCodec}. The plugin stores every record in an envelope (see
 * {@link encodeRecord}) carrying the codec's `kind`, `version` and
 * `fingerprint`, and decodes a record only when they match, or after
 * running `migrations` from the stored version.
 */
export interface Codec<T> {
  /** The bytes to store for `value`. */
  encode(value: T): Uint8Array;
  /** The value stored as `bytes` (what `encode` made). */
  decode(bytes: Uint8Array): T;
  /** Which family of codec this is; default `'custom'`. */
  readonly kind?: CodecKind;
  /** The version of the stored shape this code writes (1..65535); default 1. */
  readonly version?: number;
  /** What identifies the definition the bytes depend on: 16 lowercase hex digits (see {@link fingerprintOf}); default none. */
  readonly fingerprint?: string;
  /** Steps from older versions (see {@link MigrationStep}); a custom codec's steps name `from` as a codec, or none for its own `decode`. */
  readonly migrations?: Migrations;
  /** The version records without an envelope are taken to be; default: refused (see {@link CodecOptions.legacyVersion}). */
  readonly legacyVersion?: number;
}

/**
 * Checks a codec given by a caller: an object with `encode` and `decode`
 * functions (read once, through {@link guard}, so a throwing getter or a
 * Proxy becomes a typed error rather than escaping). Used by every plugin
 * method that takes a codec, before anything is read or written.
 *
 * @returns The codec, as given.
 * @throws {@link InvalidArgumentError} `codec` is not an object with `encode` and `decode` functions, or reading it threw.
 *
 * @example
 * ```ts
 * const c = checkCodec(codec);          // throws before anything is written
 * await store.put(key, c.encode(value));
 * ```
 */
export function checkCodec(codec: unknown): Codec<unknown> {
  return guard('the codec', (m) => new InvalidArgumentError(m), () => {
    const c = codec as Partial<Codec<unknown>> | null;
    if (c === null || typeof c !== 'object' || typeof c.encode !== 'function' || typeof c.decode !== 'function') {
      throw new InvalidArgumentError(`codec must be an object with encode and decode functions, got ${describeValue(codec)}`);
    }
    return c as Codec<unknown>;
  });
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads factory options: known names only, values checked by the codec check that follows. */
function readCodecOptions(o: unknown): { version: number | undefined; migrations: Migrations | undefined; legacyVersion: number | false | undefined } {
  const r = readOptions(o, 'codec', ['version', 'migrations', 'legacyVersion']);
  if (r.legacyVersion !== undefined && r.legacyVersion !== false && typeof r.legacyVersion !== 'number') {
    throw new InvalidArgumentError(`legacyVersion must be a version number or false, got ${describeValue(r.legacyVersion)}`);
  }
  return { version: r.version as number | undefined, migrations: r.migrations as Migrations | undefined, legacyVersion: r.legacyVersion as number | false | undefined };
}

/** Builds a codec with its metadata and checks it now, so bad options throw at the factory call. */
function made<T>(base: Pick<Codec<T>, 'encode' | 'decode' | 'kind'>, o: ReturnType<typeof readCodecOptions>, legacyDefault: number | undefined,
  fingerprint?: () => string): Codec<T> {
  const legacy = o.legacyVersion === false ? undefined : o.legacyVersion ?? legacyDefault;
  let fp: string | undefined;
  const codec: Codec<T> = {
    ...base,
    version: o.version ?? 1,
    ...(o.migrations !== undefined ? { migrations: o.migrations } : {}),
    ...(legacy !== undefined ? { legacyVersion: legacy } : {}),
  };
  if (fingerprint) {
    // Computed on first use: a schema class's registered subclasses may be defined after its codec.
    Object.defineProperty(codec, 'fingerprint', { enumerable: true, get: () => (fp ??= fingerprint()) });
  }
  resolveCodec(codec);
  return codec;
}

/**
 * JSON text, UTF-8 (`JSON.stringify` / `JSON.parse`: only what JSON can hold
 * round-trips; `decode` throws on bytes that are not JSON).
 *
 * @param options The version and migrations (see {@link CodecOptions}); records without an envelope are version 1 unless `legacyVersion` says otherwise.
 * @throws {@link InvalidArgumentError} An unknown option, a version outside 1..65535, or a migration that is not a function or `{ migrate }` keyed by 2..version.
 *
 * @example
 * ```ts
 * const configCodec = jsonCodec<{ motd: string; lang: string }>({
 *   version: 2,
 *   migrations: { 2: (old) => ({ ...(old as { motd: string }), lang: 'en' }) },
 * });
 * await this.plugins.store.setShared('world:config', { motd: 'hello', lang: 'en' }, configCodec);
 * ```
 */
export function jsonCodec<T>(options?: CodecOptions): Codec<T> {
  return made<T>({
    kind: 'json',
    encode: (v) => utf8.encode(JSON.stringify(v)),
    decode: (b) => JSON.parse(fromUtf8.decode(b)) as T,
  }, readCodecOptions(options), 1);
}

const packr = new Packr({ useRecords: false, moreTypes: true });

/**
 * MessagePack (msgpackr, which Colyseus itself ships): compact, and keeps
 * more types than JSON (e.g. Dates, Sets, typed arrays; a `Map` comes back
 * as a plain object, as msgpackr decodes maps).
 *
 * @param options The version and migrations (see {@link CodecOptions}); records without an envelope are version 1 unless `legacyVersion` says otherwise.
 * @throws {@link InvalidArgumentError} As {@link jsonCodec}.
 *
 * @example
 * ```ts
 * const counterCodec = msgpackCodec<number>();
 * const counter = (await this.plugins.store.getShared(WORLD_COUNTER, counterCodec)) ?? 0;
 * ```
 */
export function msgpackCodec<T>(options?: CodecOptions): Codec<T> {
  return made<T>({
    kind: 'msgpack',
    encode: (v) => packr.pack(v),
    decode: (b) => packr.unpack(b) as T,
  }, readCodecOptions(options), 1);
}

/**
 * A `@colyseus/schema` class, stored as its full-state encoding, with the
 * class's fingerprint (field names, order and types, recursively; see
 * {@link schemaFingerprint}) in every record's envelope: a record written
 * by another definition is migrated with `migrations`, or refused with
 * {@link SchemaMismatchError}, never decoded into wrong values.
 *
 * Safe with live room state: `encode` encodes a detached `clone()` with its
 * own Encoder — running a second Encoder on an instance that is part of a
 * room's state silently stops that state's sync to clients. `decode` returns
 * a fresh, unattached instance; to put it into room state, attach
 * `decoded.clone()` (a decoded instance carries decoder bookkeeping).
 * `decode` is strict: bytes the decoder cannot read exactly (it would only
 * warn on the console) throw {@link SchemaMismatchError}.
 *
 * @param type The schema class; it must construct with no arguments.
 * @param options The version and migrations; each step names `from`, the class (or codec) of the version it migrates from. Records without an envelope are refused unless `legacyVersion` names the version that wrote them.
 * @throws {@link InvalidArgumentError} `type` is not a schema class, or bad options (as {@link jsonCodec}; and a migration step without `from`).
 *
 * @example
 * ```ts
 * const InventoryV1 = schema({ gold: t.uint32() }, 'Inventory');
 * const Inventory = schema({ gold: t.uint32(), gems: t.uint16() }, 'Inventory');
 * export const inventorySpec: RecordSpec<InstanceType<typeof Inventory>> = {
 *   funcId: INVENTORY,
 *   codec: schemaCodec(Inventory, {
 *     version: 2,
 *     migrations: { 2: { from: InventoryV1, migrate: (old: InstanceType<typeof InventoryV1>) => new Inventory({ gold: old.gold, gems: 0 }) } },
 *   }),
 *   initial: () => new Inventory(),
 * };
 * ```
 */
export function schemaCodec<T extends Schema>(type: new () => T, options?: CodecOptions): Codec<T> {
  const klass = checkSchemaClass(type, 'schemaCodec type');
  const o = readCodecOptions(options);
  const version = o.version ?? 1;
  const codec: Codec<T> = made<T>({
    kind: 'schema',
    encode: (v) => new Encoder(v.clone() as T).encodeAll().slice(),
    decode: (b) => strictDecode(type, b, codec, version),
  }, { ...o, migrations: schemaSteps(o.migrations, version) }, undefined, () => schemaFingerprint(klass));
  return codec;
}

/** A schema codec's steps with each class `from` made a schema codec of the version before the step. */
function schemaSteps(m: Migrations | undefined, version: number): Migrations | undefined {
  if (m === null || typeof m !== 'object') return m;
  const out: Record<number, Migration> = {};
  for (const k of Object.keys(m)) {
    const step = (m as Record<string, Migration>)[k];
    const from = typeof step === 'object' && step !== null ? step.from : undefined;
    if (typeof from === 'function') {
      const target = Number(k);
      const older = Number.isInteger(target) && target >= 2 && target <= version ? target - 1 : 1;
      const s = step as MigrationStep;
      out[Number(k)] = { from: schemaCodec(checkSchemaClass(from, `migrations[${k}].from`), { version: older }), migrate: (old) => s.migrate(old) };
    } else if (step !== undefined) out[Number(k)] = step;
  }
  return out;
}

/**
 * Decodes schema bytes, refusing what the decoder would only warn about.
 * @colyseus/schema's Decoder reports a definition mismatch, an unknown field
 * or an unknown reference on the console and skips ahead, leaving a value
 * that looks fine; here any such report, or bytes not read exactly to
 * their end, is a typed error. The console is diverted only for this
 * synchronous call, so nothing else's output can be caught.
 */
function strictDecode<T extends Schema>(type: new () => T, bytes: Uint8Array, codec: Codec<T>, version: number): T {
  const fresh = new type();
  const it = { offset: 0 };
  const complaints: string[] = [];
  const { warn, error } = console;
  const note = (...args: unknown[]): void => { complaints.push(args.map((a) => (typeof a === 'string' ? a : describeValue(a))).join(' ')); };
  let failure: unknown;
  console.warn = note;
  console.error = note;
  try {
    new Decoder(fresh).decode(bytes, it);
  } catch (err) {
    failure = err;
  } finally {
    console.warn = warn;
    console.error = error;
  }
  if (failure !== undefined || complaints.length > 0 || it.offset !== bytes.length) {
    const why = failure !== undefined ? `the schema decoder threw ${failure instanceof Error ? failure.message : describeValue(failure)}`
      : complaints.length > 0 ? `the schema decoder reported ${complaints[0]}`
        : `the schema decoder read ${it.offset} of ${bytes.length} bytes`;
    throw new SchemaMismatchError({
      reason: 'decode-failed', expectedVersion: version, expectedFingerprint: codec.fingerprint ?? '', why, cause: failure,
    });
  }
  return fresh;
}
