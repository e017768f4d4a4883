import { Decoder, Encoder, type Schema } from '@colyseus/schema';
import { Packr } from 'msgpackr';

/**
 * Turns values into stored bytes and back: what {@link RecordSpec} and the
 * plugin's shared-value methods use. Any object with these two methods is a
 * codec; tickstore ships {@link jsonCodec}, {@link msgpackCodec} and
 * {@link schemaCodec}.
 */
export interface Codec<T> {
  /** The bytes to store for `value`. */
  encode(value: T): Uint8Array;
  /** The value stored as `bytes` (what `encode` made). */
  decode(bytes: Uint8Array): T;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/**
 * JSON text, UTF-8 (`JSON.stringify` / `JSON.parse`: only what JSON can hold
 * round-trips; `decode` throws on bytes that are not JSON).
 *
 * @example
 * ```ts
 * const configCodec = jsonCodec<{ motd: string }>();
 * await this.plugins.store.setShared('world:config', { motd: 'hello' }, configCodec);
 * ```
 */
export function jsonCodec<T>(): Codec<T> {
  return {
    encode: (v) => utf8.encode(JSON.stringify(v)),
    decode: (b) => JSON.parse(fromUtf8.decode(b)) as T,
  };
}

const packr = new Packr({ useRecords: false, moreTypes: true });

/**
 * MessagePack (msgpackr, which Colyseus itself ships): compact, and keeps
 * more types than JSON (e.g. Dates, Maps, Sets, typed arrays).
 *
 * @example
 * ```ts
 * const counterCodec = msgpackCodec<number>();
 * const counter = (await this.plugins.store.getShared(WORLD_COUNTER, counterCodec)) ?? 0;
 * ```
 */
export function msgpackCodec<T>(): Codec<T> {
  return {
    encode: (v) => packr.pack(v),
    decode: (b) => packr.unpack(b) as T,
  };
}

/**
 * A `@colyseus/schema` class, stored as its full-state encoding.
 *
 * Safe with live room state: `encode` encodes a detached `clone()` with its
 * own Encoder — running a second Encoder on an instance that is part of a
 * room's state silently stops that state's sync to clients. `decode` returns
 * a fresh, unattached instance; to put it into room state, attach
 * `decoded.clone()` (a decoded instance carries decoder bookkeeping).
 *
 * @param type The schema class; it must construct with no arguments.
 *
 * @example
 * ```ts
 * export const inventorySpec: RecordSpec<Inventory> = {
 *   funcId: INVENTORY,
 *   codec: schemaCodec(Inventory),
 *   initial: () => new Inventory(),
 * };
 * ```
 */
export function schemaCodec<T extends Schema>(type: new () => T): Codec<T> {
  return {
    encode: (v) => new Encoder(v.clone() as T).encodeAll().slice(),
    decode: (b) => {
      const fresh = new type();
      new Decoder(fresh).decode(b);
      return fresh;
    },
  };
}
