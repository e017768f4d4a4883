import type { Backend, BackendReply, ReplyHandler } from '../../src/backend.js';
import { DEFAULTS, engineConfig } from '../../src/config.js';
import type { TickstoreError } from '../../src/errors.js';
import { redisBackend, type RedisBackendOptions } from '../../src/engines/redis/index.js';

/*
 * Promise wrappers over the Backend interface, for the Redis engine's tests
 * (they drive the engine directly, below the store facade).
 */

export interface Outcome { reply: BackendReply; error: TickstoreError | undefined }

/** Runs one op; resolves with its reply and error (never rejects). */
export function call(op: (done: ReplyHandler) => void): Promise<Outcome> {
  return new Promise((resolve) => op((reply, error) => resolve({ reply, error })));
}

/** Runs one op; rejects with its error. */
export async function ok(op: (done: ReplyHandler) => void): Promise<BackendReply> {
  const { reply, error } = await call(op);
  if (error) throw error;
  return reply;
}

export function openRedis(options: RedisBackendOptions): Promise<Backend> {
  return redisBackend(options).open(engineConfig(DEFAULTS));
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : new TextDecoder().decode(v));

/** A unique prefix per test, so tests sharing a server never see each other's keys. */
let n = 0;
export function freshPrefix(): string { return `t${process.pid}x${++n}`; }
