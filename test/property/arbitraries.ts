/**
 * Arbitrary inputs for the property test over the public surface: values of
 * every JS type, and option objects whose fields may be own, inherited,
 * getters, throwing getters or behind a Proxy. Each is a {@link Gen}: the
 * value (made fresh for every run, so a detached buffer or a getter is never
 * shared) and a short description that fast-check prints as the counterexample
 * (printing the value itself could run its throwing getters).
 */
import fc from 'fast-check';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../../src/index.js';

/** A generated input and how to print it. */
export interface Gen<T = unknown> { readonly v: T; readonly d: string }

/** What a throwing getter or Proxy trap throws: the caller's own error, which tickstore may pass on unchanged. */
export class UserThrow extends Error {
  constructor(where: string) { super(`user code threw (${where})`); }
}

export function gen<T>(v: T, d: string): Gen<T> {
  return { v, d, [fc.toStringMethod]: () => d } as Gen<T>;
}

type Factory = readonly [string, () => unknown];
/** Picks one of `list`, making its value fresh each time. */
export const from = (list: readonly Factory[]): fc.Arbitrary<Gen> => fc.constantFrom(...list).map(([d, make]) => gen(make(), d));

/** One oversized value, shared: allocating 16 MiB per run would dominate the test's time. */
const OVERSIZE = new Uint8Array(MAX_VALUE_BYTES + 1);
/** The largest value, shared (for batches whose total size is the point). */
export const MAX_VALUE = new Uint8Array(MAX_VALUE_BYTES);

function detached(n: number): Uint8Array {
  const buf = new ArrayBuffer(n);
  const view = new Uint8Array(buf);
  structuredClone(buf, { transfer: [buf] });
  return view;
}

function transferred(n: number): Uint8Array {
  const buf = new ArrayBuffer(n);
  const view = new Uint8Array(buf, 1, n - 2);
  (buf as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
  return view;
}

const throwingProxy = (target: object, trap: 'get' | 'ownKeys' | 'getPrototypeOf' | 'has'): object => new Proxy(target, {
  [trap]: () => { throw new UserThrow(`proxy ${trap} trap`); },
});

export const SPECIAL_NUMBERS: readonly number[] = [
  0, -0, 1, -1, 2, 1.5, 0.5, NaN, Infinity, -Infinity, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 33, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2,
  1e9, 1e15, 1e21, 8.64e15, 8.64e15 + 1, Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, -(2 ** 53), 4096, 65536, 10_000, 10_001,
];
export const numbers: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_NUMBERS).map((n) => gen(n, Object.is(n, -0) ? '-0' : String(n))) },
  { weight: 1, arbitrary: fc.double().map((n) => gen(n, Object.is(n, -0) ? '-0' : String(n))) },
  { weight: 1, arbitrary: fc.integer({ min: -5, max: 20_000 }).map((n) => gen(n, String(n))) },
);
export const bigints: fc.Arbitrary<Gen> = fc.oneof(
  fc.constantFrom(0n, 1n, 3n, -1n, 2n ** 32n, 2n ** 64n - 1n, 2n ** 64n, -(2n ** 63n)).map((n) => gen(n, `${n}n`)),
  fc.bigInt().map((n) => gen(n, `${n}n`)),
);

const printable = (s: string): string => JSON.stringify(s.length > 40 ? `${s.slice(0, 20)}…(${s.length} chars)` : s)
  .replace(/[\ud800-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
/** Strings as keys, prefixes, dirs and enum values see them: empty, NUL, lone surrogates, multi-byte, at and past the key limit, 1 MiB. */
export const strings: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(
    '', 'a', 'k', 'p:1', '\0', 'a\0b', '\ud800', 'a\udc00b', '\ud83d\ude00', 'é', '3', 'true', 'per-key', 'async-batch', 'evict', 'update',
    'immediate', 'grouped', 'disk', 'memory', 'x'.repeat(MAX_KEY_BYTES), 'x'.repeat(MAX_KEY_BYTES + 1), 'é'.repeat(MAX_KEY_BYTES / 2 + 1),
    '.', '..', './x', '../x', 'a/b', ' ', '__proto__', 'constructor', 'toString',
  ).map((s) => gen(s, printable(s))) },
  { weight: 1, arbitrary: fc.constant(null).map(() => gen('y'.repeat(1 << 20), '"y"×1MiB')) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map((s) => gen(s, printable(s))) },
);

export const functions: fc.Arbitrary<Gen> = from([
  ['() => 1', () => () => 1],
  ['function f() {}', () => function f() { /* a callable */ }],
  ['async () => 1', () => async () => 1],
  ['class C {}', () => class C {}],
  ['() => { throw UserThrow }', () => () => { throw new UserThrow('function'); }],
]);

/** Byte-ish values: views of every kind, subviews, detached and transferred buffers, SharedArrayBuffer, oversize, a Proxy. */
export const views: fc.Arbitrary<Gen> = fc.oneof(
  from([
    ['Uint8Array(0)', () => new Uint8Array(0)],
    ['Uint8Array[1,2,3]', () => new Uint8Array([1, 2, 3])],
    ['Buffer("abc")', () => Buffer.from('abc')],
    ['subview(ArrayBuffer 64, off 10, len 5)', () => new Uint8Array(new ArrayBuffer(64), 10, 5).fill(7)],
    ['Buffer subview of the pool', () => Buffer.from('0123456789').subarray(3, 6)],
    ['Uint8Array 64 KiB', () => new Uint8Array(65_536).fill(1)],
    ['detached Uint8Array(8) (structuredClone transfer)', () => detached(8)],
    ['subview of a transferred buffer (ArrayBuffer.prototype.transfer)', () => transferred(16)],
    ['Uint8Array over SharedArrayBuffer', () => new Uint8Array(new SharedArrayBuffer(4)).fill(2)],
    ['Proxy(Uint8Array[4,5])', () => new Proxy(new Uint8Array([4, 5]), {})],
    ['Int8Array[1]', () => new Int8Array([1])],
    ['Uint8ClampedArray[1]', () => new Uint8ClampedArray([1])],
    ['Float64Array[1]', () => new Float64Array([1])],
    ['ArrayBuffer(4)', () => new ArrayBuffer(4)],
    ['DataView(4)', () => new DataView(new ArrayBuffer(4))],
    ['[1,2,3]', () => [1, 2, 3]],
    ['Object.create(Uint8Array.prototype)', () => Object.create(Uint8Array.prototype) as unknown],
  ]),
  fc.uint8Array({ maxLength: 48 }).map((b) => gen(b, `Uint8Array(${b.length})`)),
);

/** A value over the limit (only where a value goes: as an options object, Object.keys over its 16 Mi indices dominates the run). */
export const oversize: fc.Arbitrary<Gen> = fc.constant(null).map(() => gen(OVERSIZE, 'Uint8Array(MAX_VALUE_BYTES + 1)'));

/** Objects that are not option objects: exotic, hostile, or just the wrong kind. */
export const objects: fc.Arbitrary<Gen> = from([
  ['{}', () => ({})],
  ['[]', () => []],
  ['[{}]', () => [{}]],
  ['Object.create(null)', () => Object.create(null) as unknown],
  ['Object.create({ a: 1 })', () => Object.create({ a: 1 }) as unknown],
  ['new Date(0)', () => new Date(0)],
  ['new Map()', () => new Map()],
  ['/re/', () => /re/],
  ['new Error("e")', () => new Error('e')],
  ['Promise.resolve()', () => Promise.resolve()],
  ['new String("k")', () => new String('k')],
  ['{ toString() { throw } }', () => ({ toString() { throw new UserThrow('toString'); } })],
  ['{ get x() { throw } }', () => ({ get x(): never { throw new UserThrow('getter x'); } })],
  ['Proxy({}, throwing get)', () => throwingProxy({}, 'get')],
  ['Proxy({}, throwing ownKeys)', () => throwingProxy({}, 'ownKeys')],
  ['Proxy({}, throwing getPrototypeOf)', () => throwingProxy({}, 'getPrototypeOf')],
  ['Proxy({}, throwing has)', () => throwingProxy({}, 'has')],
]);

export const primitives: fc.Arbitrary<Gen> = fc.oneof(
  from([
    ['undefined', () => undefined], ['null', () => null], ['true', () => true], ['false', () => false],
    ['Symbol("s")', () => Symbol('s')], ['Symbol.iterator', () => Symbol.iterator],
  ]),
  numbers, bigints, strings,
);

/** A value of any JS type. */
export const anything: fc.Arbitrary<Gen> = fc.oneof(primitives, functions, views, objects);
/** Anything but a function: where a callback goes, a function that throws is the caller's own doing (tick() passes it on, as documented). */
export const notFunction: fc.Arbitrary<Gen> = fc.oneof(primitives, views, objects);

/** Mostly `good`, sometimes anything at all. */
export const mostly = (good: fc.Arbitrary<Gen>, weight = 3): fc.Arbitrary<Gen> => fc.oneof({ weight, arbitrary: good }, { weight: 1, arbitrary: anything });

/** How a field is attached to its options object. */
export type Mode = 'own' | 'getter' | 'proto' | 'throwing-getter' | 'non-enumerable';
const MODES: readonly Mode[] = ['own', 'own', 'own', 'own', 'getter', 'proto', 'throwing-getter', 'non-enumerable'];

/** How the options object itself is wrapped. */
type Wrap = 'plain' | 'proxy' | 'frozen' | 'null-proto';

export interface OptionsSpec {
  /** The documented fields and what to draw for each (mostly valid values, then anything). */
  fields: Record<string, fc.Arbitrary<Gen>>;
  /** Unknown names to sprinkle in, e.g. a typo of a real one. */
  unknown: readonly string[];
}

/**
 * An options object: some of the documented fields, each attached in some
 * {@link Mode}, maybe an unknown own field, maybe wrapped. The oracle reads
 * it back by property access (see oracle.ts), as the fixed code must.
 */
export function optionsObject(spec: OptionsSpec): fc.Arbitrary<Gen> {
  const names = Object.keys(spec.fields);
  const field = fc.constantFrom(...names).chain((name) => fc.tuple(fc.constant(name), spec.fields[name]!, fc.constantFrom(...MODES)));
  return fc.record({
    fields: fc.uniqueArray(field, { maxLength: Math.min(4, names.length), selector: (f) => f[0] }),
    unknown: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...spec.unknown) }),
    wrap: fc.constantFrom<Wrap>('plain', 'plain', 'plain', 'plain', 'proxy', 'frozen', 'null-proto'),
  }).map(({ fields, unknown, wrap }) => {
    const own: Record<string, unknown> = wrap === 'null-proto' ? Object.create(null) as Record<string, unknown> : {};
    const proto: Record<string, unknown> = {};
    const parts: string[] = [];
    for (const [name, g, mode] of fields) {
      parts.push(`${name}: ${g.d}${mode === 'own' ? '' : ` (${mode})`}`);
      if (mode === 'own') own[name] = g.v;
      else if (mode === 'proto') proto[name] = g.v;
      else if (mode === 'non-enumerable') Object.defineProperty(own, name, { value: g.v, enumerable: false });
      else if (mode === 'getter') Object.defineProperty(own, name, { get: () => g.v, enumerable: true });
      else Object.defineProperty(own, name, { get: () => { throw new UserThrow(`getter ${name}`); }, enumerable: true });
    }
    if (unknown !== undefined) { own[unknown] = 1; parts.push(`${unknown}: 1`); }
    let o: object = own;
    if (Object.keys(proto).length > 0) {
      // Copy descriptors, not values: reading a throwing getter here would throw.
      o = Object.create(proto) as object;
      for (const k of Reflect.ownKeys(own)) Object.defineProperty(o, k, Object.getOwnPropertyDescriptor(own, k)!);
    }
    if (wrap === 'proxy') o = new Proxy(o, {});
    if (wrap === 'frozen') Object.freeze(o);
    const body = `{ ${parts.join(', ')} }`;
    return gen(o, wrap === 'plain' ? body : `${wrap}${body}`);
  });
}

/** An options argument: mostly an options object, sometimes absent, sometimes anything at all. */
export const optionsArg = (spec: OptionsSpec): fc.Arbitrary<Gen> => fc.oneof(
  { weight: 6, arbitrary: optionsObject(spec) },
  { weight: 1, arbitrary: fc.constant(null).map(() => gen(undefined, 'undefined')) },
  { weight: 2, arbitrary: anything },
);
