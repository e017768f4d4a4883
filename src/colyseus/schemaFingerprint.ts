import { createHash } from 'node:crypto';
import { $numFields, Schema, TypeContext } from '@colyseus/schema';
import { InvalidArgumentError, describeValue } from '../errors.js';

/*
 * The fingerprint of a @colyseus/schema class: what a full-state encoding's
 * bytes mean. Schema bytes carry field indexes and type ids, not names or
 * types, so a record decoded with another definition is silently wrong
 * (a field inserted before another shifts every index after it; a retype
 * reads the old bytes as the new type). The fingerprint hashes everything
 * that decides how those bytes are read, so any such change is seen before
 * decoding.
 */

/** A @colyseus/schema class (builder `schema({...})` or decorated), constructed with no arguments. */
export type SchemaClass<T extends Schema = Schema> = new () => T;

/** One field's metadata as @colyseus/schema 5 keeps it under `Class[Symbol.metadata][index]`. */
interface FieldMeta {
  readonly name: string;
  readonly index: number;
  readonly type: unknown;
  readonly [flag: string]: unknown;
}

type ClassMeta = { readonly [index: number]: FieldMeta | undefined; readonly [$numFields]?: number };

const metadataOf = (klass: typeof Schema): ClassMeta | undefined =>
  (klass as unknown as { [Symbol.metadata]?: ClassMeta | null })[Symbol.metadata] ?? undefined;

/**
 * The canonical text describing `root`'s wire definition: every type the
 * encoder can meet from it (the types @colyseus/schema's own TypeContext
 * discovers: nested schemas, collection children, parents and registered
 * subclasses — their numbering is the type ids written for polymorphic
 * fields), each with its parent and its fields in index order: index, name,
 * type (a nested schema by its type id, so recursion and cycles are fine)
 * and every flag (deprecated, view tag, …). Class names are left out: a
 * rename does not change the bytes.
 */
export function describeSchema(root: SchemaClass): string {
  const context = new TypeContext(root as unknown as typeof Schema);
  const idOf = (klass: unknown): string => {
    const id = context.getTypeId(klass as typeof Schema);
    // Every class a field names was discovered, so this is unreachable; a sentinel keeps the text total.
    return id === undefined ? '#?' : `#${id}`;
  };
  const typeText = (type: unknown): string => {
    if (typeof type === 'string') return type;
    if (typeof type === 'function') return idOf(type);
    if (type !== null && typeof type === 'object') {
      const entries = Object.entries(type as Record<string, unknown>);
      if ('quantized' in type) return `quantized${stable((type as { quantized: unknown }).quantized)}`;
      const [kind, child] = entries[0] ?? ['?', undefined];
      return `${kind}<${typeText(child)}>`;
    }
    return String(type);
  };
  const parts: string[] = [];
  const ids = [...context.schemas.values()].sort((a, b) => a - b);
  for (const id of ids) {
    const klass = context.get(id);
    if (!klass) continue;
    const parent = Object.getPrototypeOf(klass) as unknown;
    const meta = metadataOf(klass);
    const last = meta?.[$numFields] ?? -1;
    const fields: string[] = [];
    for (let i = 0; i <= last; i++) {
      const f = meta?.[i];
      if (!f) { fields.push(`${i}:-`); continue; }
      const flags = Object.keys(f).filter((k) => k !== 'name' && k !== 'index' && k !== 'type').sort()
        .map((k) => `${k}=${stable(f[k])}`);
      fields.push(`${i}:${JSON.stringify(f.name)}:${typeText(f.type)}${flags.length ? `[${flags.join(',')}]` : ''}`);
    }
    parts.push(`${id}${parent !== Schema ? `<${idOf(parent)}` : ''}{${fields.join(';')}}`);
  }
  return `schema5|${parts.join('|')}`;
}

/** Plain data as text with sorted keys (so equal descriptors give equal text); functions by presence only. */
function stable(v: unknown): string {
  if (typeof v === 'function') return 'fn';
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? String(v);
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${k}:${stable(o[k])}`).join(',')}}`;
}

/**
 * The 8-byte fingerprint (16 lowercase hex digits) of any text: the first
 * 8 bytes of its SHA-256. Use it to give a custom codec a fingerprint.
 *
 * @throws {@link InvalidArgumentError} `text` is not a string.
 *
 * @example
 * ```ts
 * const myCodec = { encode, decode, version: 2, fingerprint: fingerprintOf('profile: name, gold (u32)') };
 * ```
 */
export function fingerprintOf(text: string): string {
  if (typeof text !== 'string') throw new InvalidArgumentError(`fingerprintOf takes a string, got ${describeValue(text)}`);
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * `root`'s schema fingerprint (16 hex digits): what {@link schemaCodec}
 * stores in every record's envelope. It changes with any change to how the
 * class's bytes are read: a field added, removed, reordered, renamed or
 * retyped, here or in any nested schema.
 *
 * @throws {@link InvalidArgumentError} `root` is not a @colyseus/schema class.
 *
 * @example
 * ```ts
 * console.log(schemaFingerprint(Inventory)); // e.g. '3f9a0c41d2b8e671'
 * ```
 */
export function schemaFingerprint(root: SchemaClass): string {
  return fingerprintOf(describeSchema(checkSchemaClass(root)));
}

/** `v`, when it is a @colyseus/schema class. */
export function checkSchemaClass(v: unknown, what = 'a schema class'): SchemaClass {
  if (typeof v !== 'function' || !(v.prototype instanceof Schema)) {
    throw new InvalidArgumentError(`${what} must be a @colyseus/schema class (schema({...}) or a class extending Schema), got ${describeValue(v)}`);
  }
  return v as SchemaClass;
}
