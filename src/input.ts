import { types } from 'node:util';
import { InvalidArgumentError, InvalidKeyError, InvalidValueError, TickstoreError, describeValue } from './errors.js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, compareKeys } from './keys.js';
import { NO_WRITE_FLAGS, type Condition, type ScanSpec, type WriteFlags, type WriteOp } from './backend.js';
import { checkFence } from './lease.js';

export type { Condition };

export { MAX_KEY_BYTES, MAX_VALUE_BYTES };

/** Makes the typed error of one kind of bad input. */
export type ErrorMaker = (message: string) => TickstoreError;
const argError: ErrorMaker = (m) => new InvalidArgumentError(m);

/**
 * Runs a validation step over caller-supplied values; an exception that is
 * not a TickstoreError (a throwing getter, a Proxy trap, a revoked Proxy)
 * becomes `fail`'s typed error instead of escaping raw.
 */
export function guard<T>(what: string, fail: ErrorMaker, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TickstoreError) throw err;
    throw fail(`reading ${what} threw ${describeValue(err)}`);
  }
}

/** The known name a mistyped one most likely meant: same letters in another case, or at most 2 edits away. */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = k.toLowerCase() === name.toLowerCase() ? 0 : editDistance(k, name);
    if (d < bestDistance) { best = k; bestDistance = d; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * Reads an options object the way the caller's code sees it — `o[name]`, so
 * getters and prototypes count — rather than with rest/spread, which sees
 * only own enumerable fields. Refuses a non-object (undefined reads as no
 * options) and any enumerable key not in `known`, naming the closest known
 * one. Returns what was read; the caller checks the values.
 */
export function readOptions<K extends string>(o: unknown, what: string, known: readonly K[], fail: ErrorMaker = argError): { [P in K]?: unknown } {
  if (o === undefined) return {};
  return guard(`${what} options`, fail, () => {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw fail(`${what} options must be an object, got ${describeValue(o)}`);
    for (const k in o) {
      if ((known as readonly string[]).includes(k)) continue;
      const near = closest(k, known);
      throw fail(`unknown ${what} option ${describeValue(k)}${near ? ` (did you mean ${describeValue(near)}?)` : ''}`);
    }
    const out: { [P in K]?: unknown } = {};
    for (const k of known) out[k] = (o as Record<string, unknown>)[k];
    return out;
  });
}

/** Checks an optional boolean option. */
export function optionalBoolean(name: string, v: unknown, fail: ErrorMaker = argError): boolean | undefined {
  if (v !== undefined && typeof v !== 'boolean') throw fail(`${name} must be a boolean, got ${describeValue(v)}`);
  return v;
}

/** Checks a whole-number option in `min..max`. */
export function wholeNumber(name: string, v: unknown, min: number, max: number, fail: ErrorMaker = argError): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw fail(`${name} must be a whole number in ${min}..${max}, got ${describeValue(v)}`);
  }
  return v;
}

/** Checks an optional callback option (a function), so that a bad one fails at the call, not later inside tick(). */
export function optionalFunction<F>(name: string, v: unknown, fail: ErrorMaker = argError): F | undefined {
  if (v !== undefined && typeof v !== 'function') throw fail(`${name} must be a function, got ${describeValue(v)}`);
  return v as F | undefined;
}

/**
 * Checks a key and returns its UTF-8 length. Keys are non-empty, well-formed
 * strings (no lone surrogates: they would not round-trip through UTF-8) of at
 * most MAX_KEY_BYTES bytes.
 */
export function checkKey(key: unknown): number {
  if (typeof key !== 'string') throw new InvalidKeyError(`key must be a string, got ${describeValue(key)}`);
  if (key.length === 0) throw new InvalidKeyError('key must not be empty');
  if (key.length > MAX_KEY_BYTES) throw new InvalidKeyError(`key is longer than ${MAX_KEY_BYTES} bytes`);
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) throw new InvalidKeyError(`key is ${bytes} bytes; the maximum is ${MAX_KEY_BYTES}`);
  if (!key.isWellFormed()) throw new InvalidKeyError('key contains a lone surrogate (not valid UTF-8)');
  return bytes;
}

/**
 * Checks a value: a Uint8Array (Buffer and subviews included) of at most
 * MAX_VALUE_BYTES; empty is a value. A Proxy of one is refused (it has no
 * bytes to copy), and so is a view of a detached buffer, which reads as
 * empty: storing it would silently write nothing in place of the value meant.
 */
/** The %TypedArray% accessors themselves: a subclass may override `length` or `byteLength`, never these. */
const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object;
const intrinsic = (name: string): ((this: Uint8Array) => unknown) =>
  Object.getOwnPropertyDescriptor(TYPED_ARRAY, name)!.get as (this: Uint8Array) => unknown;
const BUFFER = intrinsic('buffer');
const BYTE_OFFSET = intrinsic('byteOffset');
const BYTE_LENGTH = intrinsic('byteLength');
const AT = (TYPED_ARRAY as { at: (this: Uint8Array, i: number) => unknown }).at;

/** Whether a view's buffer was detached or resized so that the view is out of bounds (%TypedArray%.prototype.at refuses both). */
function viewIsGone(value: Uint8Array): boolean {
  try { AT.call(value, 0); return false; } catch { return true; }
}

/**
 * Validates a value and returns a snapshot of it: a plain, fixed-length
 * Uint8Array over the same bytes, measured with the intrinsic accessors, so
 * an overridden `length`, a resizable buffer growing later, or a subclass
 * cannot make the store copy other bytes than the ones checked. Callers
 * check a value after reading every option (whose getters could resize or
 * detach its buffer) and copy the snapshot before any caller code runs.
 */
export function checkValue(value: unknown): Uint8Array {
  if (!types.isUint8Array(value) || types.isProxy(value)) {
    throw new InvalidValueError(`value must be a Uint8Array, got ${describeValue(value)}`);
  }
  const buffer = BUFFER.call(value) as ArrayBufferLike;
  const length = BYTE_LENGTH.call(value) as number;
  // An empty view may be a view of nothing any more: its buffer detached, or resized from under it.
  if (length === 0 && viewIsGone(value)) {
    throw new InvalidValueError('value is a view of a detached ArrayBuffer, or out of the bounds of its resized one');
  }
  if (length > MAX_VALUE_BYTES) {
    throw new InvalidValueError(`value is ${length} bytes; the maximum is ${MAX_VALUE_BYTES}`);
  }
  // A plain Uint8Array or Buffer over a fixed-size buffer already is its own snapshot: no allocation on the
  // hot path. Anything else (a subclass, an instance with its own length, a resizable or growable buffer) is
  // wrapped in a fresh view of exactly the bytes measured.
  const proto: unknown = Object.getPrototypeOf(value);
  if ((proto === Uint8Array.prototype || proto === Buffer.prototype) && !Object.hasOwn(value, 'length') && !resizes(buffer)) return value;
  return new Uint8Array(buffer, BYTE_OFFSET.call(value) as number, length);
}

const RESIZABLE = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')!.get as (this: ArrayBuffer) => boolean;
const GROWABLE = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'growable')!.get as (this: SharedArrayBuffer) => boolean;

/** Whether a buffer's size can change after it was measured (asked with the intrinsic accessors). */
function resizes(buffer: ArrayBufferLike): boolean {
  return types.isSharedArrayBuffer(buffer) ? GROWABLE.call(buffer) : RESIZABLE.call(buffer as ArrayBuffer);
}

export const MAX_SCAN_LIMIT = 10_000;

/** A scan cursor: the last key of a page and the direction, base64url-encoded JSON. Opaque to callers. */
export function encodeCursor(lastKey: string, reverse: boolean): string {
  return Buffer.from(JSON.stringify({ k: lastKey, r: reverse ? 1 : 0 }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: unknown, reverse: boolean): string {
  let parsed: unknown;
  try {
    if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidArgumentError('invalid scan cursor');
  }
  const c = parsed as { k?: unknown; r?: unknown } | null;
  if (!c || typeof c.k !== 'string' || (c.r !== 0 && c.r !== 1)) throw new InvalidArgumentError('invalid scan cursor');
  if ((c.r === 1) !== reverse) throw new InvalidArgumentError('scan cursor was made for the other direction');
  checkKey(c.k);
  return c.k;
}

const SCAN_OPTIONS = ['prefix', 'gt', 'gte', 'lt', 'lte', 'limit', 'reverse', 'cursor'] as const;

/** Validates scan options into the spec the engine runs (a cursor becomes a bound). */
export function checkScan(options: unknown): ScanSpec {
  const o = readOptions(options, 'scan', SCAN_OPTIONS);
  const reverse = optionalBoolean('reverse', o.reverse) === true;
  const spec: ScanSpec = { limit: 100, reverse };
  if (o.prefix !== undefined) {
    if (typeof o.prefix !== 'string') throw new InvalidKeyError(`prefix must be a string, got ${describeValue(o.prefix)}`);
    if (o.prefix !== '') checkKey(o.prefix);
    spec.prefix = o.prefix;
  }
  for (const b of ['gt', 'gte', 'lt', 'lte'] as const) {
    const bound = o[b];
    if (bound !== undefined) { checkKey(bound); spec[b] = bound as string; }
  }
  if (o.limit !== undefined) {
    if (typeof o.limit !== 'number' || !Number.isInteger(o.limit) || o.limit < 1 || o.limit > MAX_SCAN_LIMIT) {
      throw new InvalidArgumentError(`limit must be a whole number in 1..${MAX_SCAN_LIMIT}, got ${describeValue(o.limit)}`);
    }
    spec.limit = o.limit;
  }
  if (o.cursor !== undefined) {
    const last = decodeCursor(o.cursor, spec.reverse);
    // Continue strictly after the last key returned (the other bounds still apply).
    if (spec.reverse) {
      delete spec.lte;
      spec.lt = spec.lt !== undefined && compareKeys(spec.lt, last) < 0 ? spec.lt : last;
    } else {
      delete spec.gte;
      spec.gt = spec.gt !== undefined && compareKeys(spec.gt, last) > 0 ? spec.gt : last;
    }
  }
  return spec;
}

/**
 * When a written value expires: `ttlMs` from now, or at `expiresAt` (give one
 * at most; default: never). From then on the key reads as absent (get,
 * exists, version, scan, conditions), compaction removes it, and its deadline
 * survives restarts. A later write without either makes the key permanent
 * again. Values with a deadline are never kept in the memcache.
 */
export interface ExpiryOptions {
  /** Milliseconds from now: a positive number (default: no expiry). */
  ttlMs?: number;
  /** A time in whole milliseconds since the epoch, 0..8.64e15 (default: no expiry). */
  expiresAt?: number;
}

/**
 * Checks a write's options (WriteOptions): its deadline, whether it must be
 * durable now, and its fence. No options: the shared empty flags, so the
 * common write allocates nothing here.
 */
export function checkWriteOptions(o: unknown, known: readonly ('ttlMs' | 'expiresAt' | 'durable' | 'fence')[] = WRITE_OPTIONS): WriteFlags {
  if (o === undefined) return NO_WRITE_FLAGS;
  const r = readOptions(o, 'write', known);
  const durable = optionalBoolean('durable', r.durable) === true;
  const fence = checkFence(r.fence);
  const deadline = deadlineOf(r.ttlMs, r.expiresAt);
  return deadline === undefined && !durable && !fence ? NO_WRITE_FLAGS : { deadline, durable, fence };
}

const WRITE_OPTIONS = ['ttlMs', 'expiresAt', 'durable', 'fence'] as const;

/**
 * One write of an atomic batch ({@link Store.batch}, {@link Ticker.batch}):
 * a put, which may expire (see {@link ExpiryOptions}), or a delete (which takes
 * only `type` and `key`).
 */
export type BatchOp = ({ type: 'put'; key: string; value: Uint8Array } & ExpiryOptions) | { type: 'delete'; key: string };

/** Latest deadline accepted: year 275760, the end of JavaScript dates. */
const MAX_DEADLINE = 8.64e15;

/** Checks expiry options (ExpiryOptions) and returns the deadline they set (ms since the epoch), if any. */
export function checkExpiry(o: unknown, now = Date.now()): number | undefined {
  const r = readOptions(o, 'write', ['ttlMs', 'expiresAt']);
  return deadlineOf(r.ttlMs, r.expiresAt, now);
}

function deadlineOf(ttlMs: unknown, expiresAt: unknown, now = Date.now()): number | undefined {
  if (ttlMs !== undefined && expiresAt !== undefined) throw new InvalidArgumentError('give ttlMs or expiresAt, not both');
  if (ttlMs !== undefined) {
    if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0 || now + ttlMs > MAX_DEADLINE) {
      throw new InvalidArgumentError(`ttlMs must be a positive number of milliseconds, got ${describeValue(ttlMs)}`);
    }
    return Math.ceil(now + ttlMs);
  }
  if (expiresAt !== undefined) {
    if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt < 0 || expiresAt > MAX_DEADLINE) {
      throw new InvalidArgumentError(`expiresAt must be a time in whole milliseconds since the epoch, got ${describeValue(expiresAt)}`);
    }
    return expiresAt;
  }
  return undefined;
}

/** Most ops one batch may hold: 10000. */
export const MAX_BATCH_OPS = 10_000;

/**
 * Most bytes one batch (or one transaction's writes) may encode to: 128 MiB,
 * i.e. its keys and values plus 7 bytes per op (15 with an expiry). It keeps
 * one commit well inside what an engine message can carry (a u32 length)
 * and what one process should hold twice in memory while it is in flight.
 */
export const MAX_BATCH_BYTES = 128 * 1024 * 1024;

/** The encoded size of one batch op (see encodeBatch). */
export function opBytes(o: WriteOp): number {
  const keyLen = Buffer.byteLength(o.key, 'utf8');
  return 1 + 2 + keyLen + 4 + (o.type === 'put' ? o.value.length + (o.expiresAt === undefined ? 0 : 8) : 0);
}

/** Refuses a batch whose encoding would exceed MAX_BATCH_BYTES (`bytes` without the 4-byte count). */
export function checkBatchBytes(bytes: number): void {
  if (bytes + 4 > MAX_BATCH_BYTES) {
    throw new InvalidArgumentError(`a batch encodes to ${bytes + 4} bytes; the maximum is ${MAX_BATCH_BYTES} (MAX_BATCH_BYTES)`);
  }
}

/** Validates a batch: 1..MAX_BATCH_OPS puts and deletes of at most MAX_BATCH_BYTES in all, each key and value checked. */
export function checkBatch(ops: unknown): WriteOp[] {
  return guard('the batch', argError, () => {
    if (!Array.isArray(ops) || ops.length === 0 || ops.length > MAX_BATCH_OPS) {
      throw new InvalidArgumentError(`a batch is an array of 1..${MAX_BATCH_OPS} ops, got ${describeValue(ops)}`);
    }
    // Every caller getter runs in this first pass; the values are checked (and snapshot) after, so no
    // later op's getter can resize or detach an earlier op's value once it was measured.
    const raw: RawBatchOp[] = [];
    for (let i = 0; i < ops.length; i++) raw.push(readBatchOp(ops[i] as unknown, i));
    const out: WriteOp[] = [];
    let bytes = 0;
    for (const r of raw) {
      const op = checkBatchOp(r);
      bytes += opBytes(op);
      out.push(op);
    }
    checkBatchBytes(bytes);
    return out;
  });
}

/** One batch op's fields, read (by property access) but not yet checked. */
type RawBatchOp = { type: 'delete'; key: unknown } | { type: 'put'; key: unknown; value: unknown; ttlMs: unknown; expiresAt: unknown };

function readBatchOp(o: unknown, i: number): RawBatchOp {
  const type = o !== null && typeof o === 'object' ? (o as { type?: unknown }).type : undefined;
  if (type === 'delete') return { type, key: readOptions(o, `batch op ${i} (a delete)`, ['type', 'key']).key };
  if (type !== 'put') throw new InvalidArgumentError(`batch op ${i}: type must be 'put' or 'delete', got ${describeValue(type)}`);
  const r = readOptions(o, `batch op ${i} (a put)`, ['type', 'key', 'value', 'ttlMs', 'expiresAt']);
  return { type, key: r.key, value: r.value, ttlMs: r.ttlMs, expiresAt: r.expiresAt };
}

function checkBatchOp(r: RawBatchOp): WriteOp {
  checkKey(r.key);
  if (r.type === 'delete') return { type: 'delete', key: r.key as string };
  const deadline = deadlineOf(r.ttlMs, r.expiresAt);
  const put = { type: 'put' as const, key: r.key as string, value: checkValue(r.value) };
  return deadline === undefined ? put : { ...put, expiresAt: deadline };
}

export function checkVersion(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(`ifVersion must be a version number (>= 1), got ${describeValue(v)}`);
  return v;
}

const BAD_CONDITION = 'condition must be { absent: true }, { version } or { value }';

/** Validates a conditional put's `{ value, condition }` (built by the store, so only `condition` is the caller's object). */
export function checkConditional(o: { value: unknown; condition: unknown }): { value: Uint8Array; condition: Condition } {
  const c = o.condition;
  if (c === null || typeof c !== 'object') throw new InvalidArgumentError(`${BAD_CONDITION}, got ${describeValue(c)}`);
  const has = guard('the condition', argError, () => ({ absent: 'absent' in c, version: 'version' in c, value: 'value' in c }));
  // The condition's getters run before the values are measured (see checkValue).
  if (has.absent) {
    const r = readOptions(c, 'condition', ['absent']);
    if (r.absent !== true) throw new InvalidArgumentError('condition { absent } must be true');
    return { value: checkValue(o.value), condition: { absent: true } };
  }
  if (has.version) {
    const version = checkVersion(readOptions(c, 'condition', ['version']).version);
    return { value: checkValue(o.value), condition: { version } };
  }
  if (has.value) {
    const expected = readOptions(c, 'condition', ['value']).value;
    const v = checkValue(o.value);
    return { value: v, condition: { value: expected === undefined ? undefined : checkValue(expected) } };
  }
  throw new InvalidArgumentError(BAD_CONDITION);
}

