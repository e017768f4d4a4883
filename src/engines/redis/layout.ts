/*
 * Where each piece of tickstore data lives in Redis (docs/redis.md is the
 * byte-by-byte spec). Every Redis key carries a hash tag, so a Redis Cluster
 * keeps one player's keys (any funcId) in one slot, and all other keys in
 * the one slot of tag `_`.
 */

/** A player key starts `ffffffff:uuuuuuuuuuuuuuuu` (funcId u32, userId u64, lowercase hex): see buildKey. */
const PLAYER = /^[0-9a-f]{8}:([0-9a-f]{16})/;

/** Length of a player group's head: `ffffffff:uuuuuuuuuuuuuuuu`. */
export const HEAD_LENGTH = 25;

/** The tag of every key (and lease scope) that is not a player key. */
export const WORLD_TAG = '_';

/** The hash tag of a key or lease scope: the userId hex for a player key, `_` otherwise. */
export function tagOf(key: string): string {
  const m = PLAYER.exec(key);
  return m ? m[1]! : WORLD_TAG;
}

/**
 * The registry member of the group a key belongs to: a player key's group is
 * every key sharing its 25-char `funcId:userId` head; any other key is a group
 * of its own. Groups are disjoint intervals of the key order.
 */
export function headOf(key: string): string | undefined {
  return PLAYER.test(key) ? key.slice(0, HEAD_LENGTH) : undefined;
}

/** Redis key names under one prefix. */
export class Layout {
  /** The coherence channel. */
  readonly channel: string;
  /** The registry of group heads (tag `_`). */
  readonly registry: string;

  constructor(readonly prefix: string) {
    this.channel = `${prefix}:c`;
    this.registry = `${prefix}:{${WORLD_TAG}}:r`;
  }

  /** The hash holding a key's value (`v`) and version (`n`). */
  data(tag: string, key: string): string { return `${this.prefix}:{${tag}}:d:${key}`; }
  /** The version counter of a tag (INCR; never expires, never decreases). */
  counter(tag: string): string { return `${this.prefix}:{${tag}}:n`; }
  /** The ordered index of a tag's keys: the registry for tag `_`, a sorted set per player otherwise. */
  index(tag: string): string { return tag === WORLD_TAG ? this.registry : `${this.prefix}:{${tag}}:i`; }
  /** A lease (hash: `token`, `exp`), with a PEXPIRE at its lapse. */
  lease(tag: string, scope: string): string { return `${this.prefix}:{${tag}}:l:${scope}`; }
  /** A scope's token counter (INCR; never expires: tokens only grow). */
  token(tag: string, scope: string): string { return `${this.prefix}:{${tag}}:t:${scope}`; }
}
