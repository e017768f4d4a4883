/**
 * What the docs promise for each argument: valid (the call must succeed),
 * invalid (it must be refused with a typed error at the call site), or
 * either (the docs leave it open: a non-plain object as options, a value
 * near a bound the fix chooses, input whose reading throws the caller's own
 * error). Options are read by property access, as the docs' wording and
 * issue 11 require: own, inherited, getter and non-enumerable fields count.
 */
import { types } from 'node:util';
import { MAX_BATCH_OPS, MAX_KEY_BYTES, MAX_VALUE_BYTES, type Store } from '../../src/index.js';

export type Verdict = 'valid' | 'invalid' | 'either';

/** Invalid if any part is, else either if any part is, else valid. */
export function all(...vs: Verdict[]): Verdict {
  return vs.includes('invalid') ? 'invalid' : vs.includes('either') ? 'either' : 'valid';
}

/** Runs a check; reading hostile input (a throwing getter or trap) leaves the outcome open. */
function guarded(f: () => Verdict): Verdict {
  try { return f(); } catch { return 'either'; }
}

const isWhole = (v: unknown, min: number, validMax: number, eitherMax = Number.MAX_SAFE_INTEGER): Verdict => {
  if (Object.is(v, -0)) return 'either';
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) return 'invalid';
  return v <= validMax ? 'valid' : v <= eitherMax ? 'either' : 'invalid';
};
const oneOf = (v: unknown, ...allowed: unknown[]): Verdict => (allowed.includes(v) ? 'valid' : 'invalid');
const optional = (v: unknown, f: (v: unknown) => Verdict): Verdict => (v === undefined ? 'valid' : f(v));
const isFn = (v: unknown): Verdict => (typeof v === 'function' ? 'valid' : 'invalid');
const isBool = (v: unknown): Verdict => (typeof v === 'boolean' ? 'valid' : 'invalid');

export function key(v: unknown): Verdict {
  if (typeof v !== 'string' || v.length === 0 || !v.isWellFormed()) return 'invalid';
  return Buffer.byteLength(v, 'utf8') <= MAX_KEY_BYTES ? 'valid' : 'invalid';
}

export function value(v: unknown): Verdict {
  return guarded(() => {
    if (types.isProxy(v)) return 'either';
    if (!types.isUint8Array(v)) return 'invalid';
    if ((v.buffer as ArrayBuffer & { detached?: boolean }).detached) return 'either';
    return v.length <= MAX_VALUE_BYTES ? 'valid' : 'invalid';
  });
}

/** An options object read the documented way; `unknown` lists own enumerable names outside `known`. */
interface Read { get(k: string): unknown; unknown: string[] }

/**
 * Reads `o` as an options object: undefined → absent; a primitive or null →
 * not an object; a non-plain object (array, Date, function…) → open; a plain
 * one (or one made from a plain prototype) → its fields.
 */
function read(o: unknown, known: readonly string[]): 'absent' | 'primitive' | 'either' | Read {
  if (o === undefined) return 'absent';
  if (o === null || (typeof o !== 'object' && typeof o !== 'function')) return 'primitive';
  if (typeof o === 'function') return 'either';
  try {
    const p = Object.getPrototypeOf(o) as object | null;
    // A plain object, or one made with Object.create from a plain one (a class's prototype owns its `constructor`).
    const plain = p === null || p === Object.prototype
      || (Object.getPrototypeOf(p) === Object.prototype && !Object.hasOwn(p, 'constructor') && Object.keys(p).every((k) => known.includes(k)));
    if (!plain || Array.isArray(o)) return 'either';
    // A Proxy's `has` trap runs for `in` checks: one that throws leaves the outcome open.
    if (types.isProxy(o)) for (const k of known) void (k in o);
    const unknown = Object.keys(o).filter((k) => !known.includes(k));
    const values = new Map(known.map((k) => [k, (o as Record<string, unknown>)[k]]));
    return { get: (k) => values.get(k), unknown };
  } catch {
    return 'either';
  }
}

/**
 * An options argument: `fields` judges the fields read; unknown names are
 * invalid when `strictNames` (the option objects the docs or issue 11 say
 * refuse them), else open. `absent` and `primitive` say what undefined and
 * null/primitives are.
 */
function options(o: unknown, known: readonly string[], fields: (r: Read) => Verdict,
  { strictNames = true, absent = 'valid' as Verdict, primitive = 'invalid' as Verdict } = {}): Verdict {
  const r = read(o, known);
  if (r === 'absent') return absent;
  if (r === 'primitive') return primitive;
  if (r === 'either') return 'either';
  return all(r.unknown.length > 0 ? (strictNames ? 'invalid' : 'either') : 'valid', fields(r));
}

const MAX_DEADLINE = 8.64e15;
function expiry(r: Read, now = Date.now()): Verdict {
  const ttl = r.get('ttlMs');
  const at = r.get('expiresAt');
  if (ttl !== undefined && at !== undefined) return 'invalid';
  if (ttl !== undefined) {
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) return 'invalid';
    return now + ttl <= MAX_DEADLINE - 1e9 ? 'valid' : now + ttl > MAX_DEADLINE + 1e9 ? 'invalid' : 'either';
  }
  if (at !== undefined) {
    if (Object.is(at, -0)) return 'either';
    return typeof at === 'number' && Number.isSafeInteger(at) && at >= 0 && at <= MAX_DEADLINE ? 'valid' : 'invalid';
  }
  return 'valid';
}

/** The deadline options set, read by property access (undefined: none), for checking that it took effect. */
export function deadlineOf(o: unknown): number | undefined {
  try {
    const r = o as { ttlMs?: unknown; expiresAt?: unknown } | undefined;
    if (r === undefined || r === null || typeof r !== 'object') return undefined;
    return typeof r.expiresAt === 'number' ? r.expiresAt : typeof r.ttlMs === 'number' ? Date.now() + r.ttlMs : undefined;
  } catch { return undefined; }
}

export const expiryOptions = (o: unknown): Verdict => options(o, ['ttlMs', 'expiresAt'], expiry);
export const writeOptions = (o: unknown): Verdict =>
  options(o, ['ttlMs', 'expiresAt', 'durable'], (r) => all(expiry(r), optional(r.get('durable'), isBool)));
export const getOptions = (o: unknown): Verdict =>
  options(o, ['cacheOnRead'], (r) => optional(r.get('cacheOnRead'), isBool), { strictNames: false, primitive: 'either' });
export const tickerOptions = (o: unknown): Verdict =>
  options(o, ['onResult'], (r) => optional(r.get('onResult'), isFn), { strictNames: false, primitive: 'either' });
export const txOptions = (o: unknown): Verdict =>
  options(o, ['retries'], (r) => optional(r.get('retries'), (v) => isWhole(v, 0, 1_000_000)), { strictNames: false });
export const txFn = isFn;
export const callback = isFn;

export function flushPolicy(p: unknown): Verdict {
  return options(p, ['mode', 'intervalMs'], (r) => {
    const mode = r.get('mode');
    const ms = r.get('intervalMs');
    if (mode === 'immediate') return ms === undefined ? 'valid' : 'invalid';
    if (mode === 'grouped') return isWhole(ms, 1, 60_000);
    return 'invalid';
  }, { absent: 'invalid' });
}

export const TUNABLES = ['syncMode', 'writePolicy', 'memcacheCapacity', 'memcacheMaxBytes', 'compactRatio', 'compactMinBytes', 'syncIntervalMs', 'flushPolicy'] as const;

function tunableFields(r: Read): Verdict {
  return all(
    optional(r.get('syncMode'), (v) => oneOf(v, 'per-key', 'async-batch')),
    optional(r.get('writePolicy'), (v) => oneOf(v, 'evict', 'update')),
    // 1e9 crashed the process (issue 11, defect 1): whatever bound the docs pick, it is below that.
    optional(r.get('memcacheCapacity'), (v) => isWhole(v, 0, 65_536, 1e9 - 1)),
    optional(r.get('memcacheMaxBytes'), (v) => isWhole(v, 1, 2 ** 31)),
    optional(r.get('compactRatio'), (v) => (typeof v === 'number' && v > 0 && v <= 1 ? 'valid' : 'invalid')),
    optional(r.get('compactMinBytes'), (v) => isWhole(v, 0, 2 ** 31)),
    optional(r.get('syncIntervalMs'), (v) => isWhole(v, 1, 60_000)),
    optional(r.get('flushPolicy'), flushPolicy),
  );
}

/** `configure`'s argument: tunables only. */
export const tunables = (o: unknown): Verdict => {
  const r = read(o, [...TUNABLES, 'dir', 'backend']);
  if (typeof r === 'object' && (r.get('dir') !== undefined || r.get('backend') !== undefined)) return 'invalid';
  return options(o, TUNABLES, tunableFields, { absent: 'invalid' });
};

export const dir = (v: unknown): Verdict => (typeof v === 'string' && v.length > 0 && !v.includes('\0') ? (v.isWellFormed() ? 'valid' : 'either') : 'invalid');
/** `openStore`'s argument (its dir judged by `dirVerdict`, since only some dirs are safe to create). */
export const storeOptions = (o: unknown): Verdict => options(o, [...TUNABLES, 'dir', 'backend'],
  (r) => all(dir(r.get('dir')), optional(r.get('backend'), (v) => oneOf(v, 'disk', 'memory')), tunableFields(r)), { absent: 'invalid' });

/** A registry's defaults: tunables (a `dir` or `backend` there is the registry's business: open). */
export const registryDefaults = (o: unknown): Verdict => {
  const v = options(o, [...TUNABLES, 'dir', 'backend'], tunableFields, { absent: 'valid' });
  const r = read(o, [...TUNABLES, 'dir', 'backend']);
  return typeof r === 'object' && (r.get('dir') !== undefined || r.get('backend') !== undefined) ? all(v, 'either') : v;
};
export const registryOpenOptions = (o: unknown): Verdict =>
  options(o, ['backend'], (r) => optional(r.get('backend'), (v) => oneOf(v, 'disk', 'memory')), { strictNames: false });

const STORE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const storeId = (v: unknown): Verdict => (typeof v === 'string' && STORE_ID.test(v) && !v.includes('..') ? 'valid' : 'invalid');

function cursorDirection(c: unknown): 0 | 1 | undefined {
  if (typeof c !== 'string' || !/^[A-Za-z0-9_-]+$/.test(c)) return undefined;
  try {
    const p = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as { k?: unknown; r?: unknown } | null;
    return p && key(p.k) === 'valid' && (p.r === 0 || p.r === 1) ? p.r : undefined;
  } catch { return undefined; }
}

export const scanOptions = (o: unknown): Verdict => options(o, ['prefix', 'gt', 'gte', 'lt', 'lte', 'limit', 'reverse', 'cursor'], (r) => {
  const reverse = r.get('reverse');
  const cursor = r.get('cursor');
  return all(
    optional(r.get('prefix'), (v) => (v === '' ? 'valid' : key(v))),
    ...(['gt', 'gte', 'lt', 'lte'] as const).map((b) => optional(r.get(b), key)),
    optional(r.get('limit'), (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 10_000 && !Object.is(v, -0) ? 'valid' : 'invalid')),
    optional(reverse, isBool),
    optional(cursor, (c) => (cursorDirection(c) === (reverse === true ? 1 : 0) ? 'valid' : 'invalid')),
  );
});

function batchOp(o: unknown): Verdict {
  const r = read(o, ['type', 'key', 'value', 'ttlMs', 'expiresAt']);
  if (r === 'absent' || r === 'primitive') return 'invalid';
  if (r === 'either') return 'either';
  const type = r.get('type');
  if (type === 'put') return all(r.unknown.length > 0 ? 'invalid' : 'valid', key(r.get('key')), value(r.get('value')), expiry(r));
  if (type === 'delete') {
    const extra = r.get('value') !== undefined || r.get('ttlMs') !== undefined || r.get('expiresAt') !== undefined;
    return all(r.unknown.length > 0 ? 'invalid' : 'valid', key(r.get('key')), extra ? 'either' : 'valid');
  }
  return 'invalid';
}

export function batch(ops: unknown): Verdict {
  return guarded(() => {
    if (!Array.isArray(ops)) return 'invalid';
    if (types.isProxy(ops)) return 'either';
    if (ops.length === 0 || ops.length > MAX_BATCH_OPS) return 'invalid';
    // Array.from, not map: a hole is an op too (undefined, so invalid).
    return all(...Array.from(ops, batchOp));
  });
}

export function condition(c: unknown): Verdict {
  return guarded(() => {
    if (c === null || typeof c !== 'object') return 'invalid';
    const forms = (['absent', 'version', 'value'] as const).filter((f) => f in c);
    if (forms.length !== 1 || Array.isArray(c)) return forms.length === 0 && !Array.isArray(c) ? 'invalid' : 'either';
    const o = c as Record<string, unknown>;
    if (forms[0] === 'absent') return o.absent === true ? 'valid' : 'invalid';
    if (forms[0] === 'version') return version(o.version);
    return o.value === undefined ? 'valid' : value(o.value);
  });
}

export const version = (v: unknown): Verdict => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? 'valid' : 'invalid');

export function watchTarget(t: unknown): Verdict {
  return guarded(() => {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) return t === null || typeof t !== 'object' ? 'invalid' : 'either';
    const hasKey = 'key' in t;
    const hasPrefix = 'prefix' in t;
    if (hasKey && hasPrefix) return 'either';
    if (hasKey) return key((t as { key: unknown }).key);
    const p = (t as { prefix?: unknown }).prefix;
    if (typeof p !== 'string') return 'invalid';
    return p === '' ? 'valid' : key(p);
  });
}

const MAX_U32 = 2n ** 32n - 1n;
const MAX_U64 = 2n ** 64n - 1n;
function id(v: unknown, max: bigint): Verdict {
  if (typeof v === 'bigint') return v >= 0n && v <= max ? 'valid' : 'invalid';
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 && BigInt(v) <= max ? 'valid' : 'invalid';
  return 'invalid';
}
export const funcId = (v: unknown): Verdict => id(v, MAX_U32);
export const userId = (v: unknown): Verdict => id(v, MAX_U64);
export function params(v: unknown): Verdict {
  return guarded(() => {
    if (v === undefined) return 'valid';
    if (!Array.isArray(v)) return 'invalid';
    if (types.isProxy(v)) return 'either';
    if (v.length > 32) return 'invalid';
    return all(...Array.from(v, (p: unknown) => id(p, MAX_U64)));
  });
}

/** A StorePlugin's options: `store` a Store (or absent), `userId` and `onResult` functions, `requireUserId` a boolean. */
export function pluginOptions(o: unknown, isStore: (s: unknown) => s is Store): Verdict {
  return options(o, ['store', 'userId', 'onResult', 'requireUserId'], (r) => all(
    // No store: the process store, when one is open; else StoreClosedError, as documented.
    // instanceof runs a Proxy's getPrototypeOf trap: one that throws leaves the outcome open.
    r.get('store') === undefined ? 'either' : guarded(() => (isStore(r.get('store')) ? 'valid' : 'invalid')),
    optional(r.get('userId'), isFn),
    optional(r.get('onResult'), isFn),
    optional(r.get('requireUserId'), isBool),
  ), { strictNames: false });
}
