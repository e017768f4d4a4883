/** The arbitraries of each argument slot of the public surface (built from arbitraries.ts). */
import fc from 'fast-check';
import { anything, bigints, from, gen, mostly, notFunction, numbers, optionsArg, optionsObject, oversize, strings, views, type Gen, type OptionsSpec } from './arbitraries.js';

const KEYS = ['k0', 'k1', 'k2', 'k3', 'p:1', 'p:2', 'é', '\ud83d\ude00'];
export const key: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KEYS).map((k) => gen(k, JSON.stringify(k))) },
  { weight: 2, arbitrary: strings },
  { weight: 1, arbitrary: anything },
);
export const value: fc.Arbitrary<Gen> = fc.oneof({ weight: 8, arbitrary: views }, { weight: 1, arbitrary: oversize }, { weight: 2, arbitrary: anything });
const bool = mostly(fc.constantFrom(true, false).map((b) => gen(b, String(b))));

/** Capacities the process survives whatever the code does with them (huge ones go to the crash probe). */
const survivable = (a: fc.Arbitrary<Gen>): fc.Arbitrary<Gen> => a.filter((g) => !(typeof g.v === 'number' && Number.isSafeInteger(g.v) && g.v > 65_536));

const past = fc.constantFrom(0, 1, 5, 1_000, 1_600_000_000_000).map((n) => gen(n, String(n)));
const future = fc.constant(null).map(() => { const t = Date.now() + 1e9; return gen(t, 'now+1e9'); });
const ttl = mostly(fc.constantFrom(60_000, 1e9, 3_600_000.5).map((n) => gen(n, String(n))), 2);
const expiresAt = mostly(fc.oneof(past, future), 2);

export const expirySpec: OptionsSpec = { fields: { ttlMs: ttl, expiresAt }, unknown: ['ttl', 'expiresat', 'foo'] };
export const writeSpec: OptionsSpec = { fields: { ttlMs: ttl, expiresAt, durable: bool }, unknown: ['ttl', 'durabl', 'foo'] };
export const writeOptions = optionsArg(writeSpec);
export const expiryOptions = optionsArg(expirySpec);
export const getOptions = optionsArg({ fields: { cacheOnRead: bool }, unknown: ['cacheonread'] });
export const txOptions = optionsArg({ fields: { retries: mostly(fc.constantFrom(0, 1, 3, 16).map((n) => gen(n, String(n)))) }, unknown: ['retry'] });

const flushPolicy = mostly(fc.oneof(
  from([['{ mode: "immediate" }', () => ({ mode: 'immediate' })], ['{ mode: "grouped", intervalMs: 5 }', () => ({ mode: 'grouped', intervalMs: 5 })]]),
  optionsObject({ fields: { mode: mostly(fc.constantFrom('immediate', 'grouped').map((m) => gen(m, m))), intervalMs: mostly(numbers) }, unknown: ['interval'] }),
  from([['{ mode: 1n }', () => ({ mode: 1n })], ['1n', () => 1n]]),
));
const tunableFields: Record<string, fc.Arbitrary<Gen>> = {
  syncMode: mostly(fc.constantFrom('per-key', 'async-batch').map((m) => gen(m, m))),
  writePolicy: mostly(fc.constantFrom('evict', 'update').map((m) => gen(m, m))),
  memcacheCapacity: survivable(mostly(fc.oneof(fc.integer({ min: 0, max: 5000 }).map((n) => gen(n, String(n))), numbers))),
  memcacheMaxBytes: mostly(fc.oneof(fc.integer({ min: 1, max: 1 << 26 }).map((n) => gen(n, String(n))), numbers)),
  compactRatio: mostly(fc.oneof(fc.double({ min: 0.01, max: 1, noNaN: true }).map((n) => gen(n, String(n))), numbers)),
  compactMinBytes: mostly(fc.oneof(fc.integer({ min: 0, max: 1 << 26 }).map((n) => gen(n, String(n))), numbers)),
  syncIntervalMs: mostly(fc.oneof(fc.integer({ min: 1, max: 1000 }).map((n) => gen(n, String(n))), numbers, bigints)),
  flushPolicy,
};
export const tunablesSpec: OptionsSpec = { fields: tunableFields, unknown: ['syncmode', 'memcachecapacity', 'dir', 'backend', 'foo'] };
/** Only tunables: `survivable` keeps crashing capacities out even when an arbitrary value comes in. */
export const tunables = survivable(optionsArg(tunablesSpec));

export const storeId = mostly(fc.oneof(
  fc.constantFrom('world', 'a', 'room-1', 'x.y', 'A_9').map((s) => gen(s, s)),
  fc.constantFrom('', '.', '..', '../etc', 'a/b', '.hidden', 'a..b', 'x'.repeat(129), 'é').map((s) => gen(s, JSON.stringify(s))),
));

export const version = mostly(fc.oneof(fc.integer({ min: 1, max: 50 }).map((n) => gen(n, String(n))), numbers, bigints));

export const condition = fc.oneof(
  { weight: 3, arbitrary: from([['{ absent: true }', () => ({ absent: true })], ['{ value: undefined }', () => ({ value: undefined })]]) },
  { weight: 3, arbitrary: version.map((g) => gen({ version: g.v }, `{ version: ${g.d} }`)) },
  { weight: 3, arbitrary: value.map((g) => gen({ value: g.v }, `{ value: ${g.d} }`)) },
  { weight: 2, arbitrary: optionsObject({ fields: { absent: bool, version, value }, unknown: ['foo'] }) },
  { weight: 1, arbitrary: anything },
);

const batchOp = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(key, value).map(([k, v]) => gen({ type: 'put', key: k.v, value: v.v }, `{ put ${k.d} ${v.d} }`)) },
  { weight: 2, arbitrary: key.map((k) => gen({ type: 'delete', key: k.v }, `{ delete ${k.d} }`)) },
  { weight: 3, arbitrary: optionsObject({
    fields: { type: mostly(fc.constantFrom('put', 'delete').map((t) => gen(t, t))), key, value, ttlMs: ttl, expiresAt },
    unknown: ['ttl', 'val'],
  }) },
  { weight: 1, arbitrary: anything },
);
export const batch = fc.oneof(
  { weight: 8, arbitrary: fc.array(batchOp, { minLength: 0, maxLength: 5 }).map((ops) => gen(ops.map((o) => o.v), `[${ops.map((o) => o.d).join(', ')}]`)) },
  { weight: 1, arbitrary: from([
    ['10001 deletes', () => Array.from({ length: 10_001 }, () => ({ type: 'delete', key: 'k0' }))],
    ['10000 deletes', () => Array.from({ length: 10_000 }, () => ({ type: 'delete', key: 'k0' }))],
    ['Proxy([{ put k0 }])', () => new Proxy([{ type: 'put', key: 'k0', value: new Uint8Array(1) }], {})],
    ['sparse [ , { delete k0 }]', () => [, { type: 'delete', key: 'k0' }]],
  ]) },
  { weight: 1, arbitrary: anything },
);

const cursorOf = (k: string, r: 0 | 1): string => Buffer.from(JSON.stringify({ k, r }), 'utf8').toString('base64url');
const cursor = mostly(from([
  ['cursor(k1, forward)', () => cursorOf('k1', 0)], ['cursor(k1, reverse)', () => cursorOf('k1', 1)],
  ['cursor("", forward)', () => cursorOf('', 0)], ['cursor of bad JSON', () => Buffer.from('{').toString('base64url')], ['"!!"', () => '!!'],
]));
export const scanOptions = optionsArg({
  fields: { prefix: key, gt: key, gte: key, lt: key, lte: key, limit: mostly(fc.integer({ min: 1, max: 20 }).map((n) => gen(n, String(n)))), reverse: bool, cursor },
  unknown: ['limt', 'start'],
});

export const watchTarget = fc.oneof(
  { weight: 3, arbitrary: key.map((k) => gen({ key: k.v }, `{ key: ${k.d} }`)) },
  { weight: 3, arbitrary: mostly(fc.constantFrom('', 'k', 'p:').map((p) => gen(p, JSON.stringify(p)))).map((p) => gen({ prefix: p.v }, `{ prefix: ${p.d} }`)) },
  { weight: 1, arbitrary: anything },
);
/** A change callback (or not a function at all). */
export const callback = fc.oneof(
  { weight: 3, arbitrary: from([['() => {}', () => () => undefined]]) },
  { weight: 1, arbitrary: notFunction },
);

export const id = (max: 'u32' | 'u64'): fc.Arbitrary<Gen> => mostly(fc.oneof(
  fc.integer({ min: 0, max: 1000 }).map((n) => gen(n, String(n))),
  fc.bigInt({ min: 0n, max: max === 'u32' ? 2n ** 32n - 1n : 2n ** 64n - 1n }).map((n) => gen(n, `${n}n`)),
  numbers, bigints,
));
export const params = fc.oneof(
  { weight: 4, arbitrary: fc.array(id('u64'), { maxLength: 4 }).map((ps) => gen(ps.map((p) => p.v), `[${ps.map((p) => p.d).join(', ')}]`)) },
  { weight: 1, arbitrary: from([
    ['33 params', () => Array.from({ length: 33 }, () => 1)], ['32 params', () => Array.from({ length: 32 }, () => 2n ** 64n - 1n)],
    ['[, 1] (a hole)', () => [, 1]], ['Proxy([1])', () => new Proxy([1], {})],
  ]) },
  { weight: 1, arbitrary: anything },
);
