import { randomBytes } from 'node:crypto';
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import type { Backend, BackendFactory } from '../../backend.js';
import type { EngineConfig } from '../../config.js';
import { InvalidConfigError, StoreUnavailableError, TickstoreError, describeValue } from '../../errors.js';
import { readOptions } from '../../input.js';
import { describeError, storeLog } from '../../log.js';
import { RedisBackend, type RedisSettings } from './redisBackend.js';
import { loadScripts } from './scripts.js';
import { Subscriber, withTimeout } from './subscriber.js';

/**
 * Options of {@link redisBackend}. Unknown options, and values outside their
 * ranges, are an {@link InvalidConfigError}.
 */
export interface RedisBackendOptions {
  /** Where Redis listens, e.g. `redis://127.0.0.1:6379` (default); ignored when `client` is given. */
  url?: string;
  /** An ioredis client or cluster to use instead; never closed by the store (its subscriber duplicate is). */
  client?: Redis | Cluster;
  /** Prefix of every Redis key and of the channel: 1..64 characters, no `{`, `}` or whitespace (default 'ts'). */
  prefix?: string;
  /** An op not answered within this many ms fails; also the connect timeout: a whole number in 1..600000 (default 2000). */
  commandTimeoutMs?: number;
  /** After each write, WAIT for this many replicas before acknowledging it: a whole number in 0..16 (default 0). Standalone primaries only. */
  waitReplicas?: number;
  /** How long that WAIT may take, in ms: a whole number in 1..600000 (default 1000). */
  waitTimeoutMs?: number;
}

const OPTIONS = ['url', 'client', 'prefix', 'commandTimeoutMs', 'waitReplicas', 'waitTimeoutMs'] as const;

const configError = (m: string): InvalidConfigError => new InvalidConfigError(m);

function wholeNumber(name: string, v: unknown, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidConfigError(`${name} must be a whole number in ${min}..${max}, got ${describeValue(v)}`);
  }
  return v;
}

function isClient(v: unknown): v is Redis | Cluster {
  if (v === null || typeof v !== 'object') return false;
  const c = v as { isCluster?: unknown; duplicate?: unknown; defineCommand?: unknown; status?: unknown };
  return typeof c.isCluster === 'boolean' && typeof c.duplicate === 'function' && typeof c.defineCommand === 'function' && typeof c.status === 'string';
}

/** Bounded reconnect backoff: 100 ms, 200 ms, … up to 2 s, forever (Redis being down is transient). */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2000);
}

/** ioredis settings tickstore needs: fail fast while disconnected, never resend a write whose answer was lost. */
function clientOptions(timeoutMs: number): RedisOptions {
  return {
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    retryStrategy: reconnectDelay,
    connectTimeout: timeoutMs,
    lazyConnect: true,
  };
}

/**
 * The Redis engine, for `openStore({ backend: redisBackend({ url, prefix }) })`:
 * several processes share one Redis (or Redis Cluster) and see each other's
 * writes; see docs/redis.md for the data layout, persistence and faults.
 *
 * @throws {@link InvalidConfigError} An unknown option or a value out of range.
 */
export function redisBackend(options: RedisBackendOptions = {}): BackendFactory {
  const o = readOptions(options, 'redisBackend', OPTIONS, configError);
  if (o.url !== undefined && typeof o.url !== 'string') throw new InvalidConfigError(`url must be a string, got ${describeValue(o.url)}`);
  if (o.url !== undefined && o.client !== undefined) throw new InvalidConfigError('give url or client, not both');
  if (o.client !== undefined && !isClient(o.client)) throw new InvalidConfigError(`client must be an ioredis Redis or Cluster, got ${describeValue(o.client)}`);
  const prefix = o.prefix ?? 'ts';
  // Braces would break the hash tags; whitespace would break nothing but is surely a mistake.
  if (typeof prefix !== 'string' || !/^[^{}\s]{1,64}$/.test(prefix)) {
    throw new InvalidConfigError(`prefix must be 1..64 characters without '{', '}' or whitespace, got ${describeValue(prefix)}`);
  }
  const settings: RedisSettings = {
    prefix,
    commandTimeoutMs: wholeNumber('commandTimeoutMs', o.commandTimeoutMs, 1, 600_000, 2000),
    waitReplicas: wholeNumber('waitReplicas', o.waitReplicas, 0, 16, 0),
    waitTimeoutMs: wholeNumber('waitTimeoutMs', o.waitTimeoutMs, 1, 600_000, 1000),
  };
  if (settings.waitReplicas > 0 && o.client?.isCluster) {
    throw new InvalidConfigError('waitReplicas is not supported with a Redis Cluster client (WAIT must follow the write on its node); use 0');
  }
  const url = o.url ?? 'redis://127.0.0.1:6379';
  const given = o.client;
  return {
    kind: 'redis',
    open: (config: EngineConfig) => open(given, url, settings, config),
  };
}

async function open(given: Redis | Cluster | undefined, url: string, settings: RedisSettings, _config: EngineConfig): Promise<Backend> {
  const ms = settings.commandTimeoutMs;
  const client: Redis | Cluster = given ?? new Redis(url, clientOptions(ms));
  const owned = given === undefined;
  let sub: Redis | Cluster | undefined;
  const fail = (what: string, err: unknown): TickstoreError => {
    if (owned) client.disconnect();
    sub?.disconnect();
    if (err instanceof TickstoreError) return err;
    return new StoreUnavailableError(`redis ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
  };
  if (owned) client.on('error', (err: unknown) => storeLog('redis: %s', describeError(err)));
  try {
    if (client.status === 'wait') await withTimeout(client.connect(), ms, `connecting to ${owned ? url : 'Redis'}`);
    else if (client.status !== 'ready') await withTimeout(new Promise<void>((resolve) => client.once('ready', () => resolve())), ms, 'waiting for the client to be ready');
  } catch (err) {
    throw fail('connect', err);
  }
  try {
    const masters = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
    await withTimeout(Promise.all(masters.map((n) => loadScripts(n))), ms, 'loading scripts');
  } catch (err) {
    throw fail('loading scripts', err);
  }
  const origin = randomBytes(8).toString('hex');
  let subscriber: Subscriber;
  try {
    sub = client.isCluster
      ? (client as Cluster).duplicate([], { enableOfflineQueue: true, enableAutoPipelining: false })
      : (client as Redis).duplicate({
        enableOfflineQueue: true, enableAutoPipelining: false, autoResubscribe: false, lazyConnect: false,
        maxRetriesPerRequest: null, retryStrategy: reconnectDelay, connectTimeout: ms,
      });
    subscriber = await Subscriber.open(sub, `${settings.prefix}:c`, origin, ms);
  } catch (err) {
    throw fail('subscribing', err);
  }
  storeLog('redis engine open (prefix %s, origin %s%s)', settings.prefix, origin, client.isCluster ? ', cluster' : '');
  return RedisBackend.create(client, owned, subscriber, settings, origin);
}

export { RedisBackend } from './redisBackend.js';
