import { Decoder, Encoder, type Schema } from '@colyseus/schema';
import { Packr } from 'msgpackr';

/** Turns values into stored bytes and back. */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** JSON text, UTF-8. */
export function jsonCodec<T>(): Codec<T> {
  return {
    encode: (v) => utf8.encode(JSON.stringify(v)),
    decode: (b) => JSON.parse(fromUtf8.decode(b)) as T,
  };
}

const packr = new Packr({ useRecords: false, moreTypes: true });

/** MessagePack (msgpackr, which Colyseus itself ships). */
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
