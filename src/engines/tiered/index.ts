import type { Backend, BackendFactory } from '../../backend.js';
import type { EngineConfig } from '../../config.js';
import { InvalidConfigError, describeValue } from '../../errors.js';
import { readOptions } from '../../input.js';
import { describeError, storeLog } from '../../log.js';
import { makeRouter, type TierRoute } from './route.js';
import { TieredBackend } from './tieredEngine.js';

export type { KeyClass, TierRoute } from './route.js';

/** Options of {@link tieredBackend}. Unknown options are an {@link InvalidConfigError}. */
export interface TieredBackendOptions {
  /** Where durable keys live and are judged (required): conditional writes, transactions, leases, versions. */
  primary: BackendFactory;
  /** Takes every durable write after the primary did; a write is acknowledged only once both have it. Never read in normal operation. */
  backup?: BackendFactory;
  /** Where ephemeral keys live (rebuildable data: sessions, caches, matchmaking state); never the primary or backup. */
  ephemeral?: BackendFactory;
  /**
   * Which keys are ephemeral (required with `ephemeral`, refused without it):
   * `{ ephemeral: ['session:', 'cache:'] }` (key prefixes: scans of ranges
   * that hold none never touch the ephemeral tier), or a pure function
   * `(key) => 'durable' | 'ephemeral'` (every scan then reads both tiers).
   */
  route?: TierRoute;
}

const OPTIONS = ['primary', 'backup', 'ephemeral', 'route'] as const;
const configError = (m: string): InvalidConfigError => new InvalidConfigError(m);

function isFactory(v: unknown): v is BackendFactory {
  return v !== null && typeof v === 'object' && typeof (v as BackendFactory).open === 'function' && typeof (v as BackendFactory).kind === 'string';
}

function tier(name: string, v: unknown, required: boolean): BackendFactory | undefined {
  if (v === undefined && !required) return undefined;
  if (!isFactory(v)) throw new InvalidConfigError(`${name} must be a backend factory such as diskBackend({ dir }), got ${describeValue(v)}`);
  return v;
}

/**
 * A backend of tiers: a primary, an optional backup written on the success
 * path, and an optional ephemeral tier for rebuildable data, each any
 * backend factory (`diskBackend`, `memoryBackend`, `redisBackend`, your own).
 * See docs/tiers.md for every rule; in short:
 *
 * - Durable keys live in the primary and the backup, ephemeral ones only in
 *   the ephemeral tier; no write of one class touches the other's tiers.
 * - A durable write or delete is acknowledged once the primary and then the
 *   backup took it. If the backup fails, the caller gets a
 *   {@link BackupWriteError} although the primary holds the write (reads see
 *   it), and a repair copies the key to the backup until it converges.
 * - Reads, scans and listings never read the backup; scans merge the primary
 *   and ephemeral tiers in key order, each key once.
 * - The ops of one key take effect in call order in every tier, even on
 *   tiers that complete ops out of order.
 * - Batches, conditional writes and transactions are judged at the primary;
 *   one naming keys of both classes is a {@link CrossTierError}.
 *
 * @throws {@link InvalidConfigError} A missing primary, a tier that is not a backend factory, a route without an ephemeral tier (or the reverse), or an unknown option.
 *
 * @example
 * ```ts
 * const store = await openStore({
 *   backend: tieredBackend({
 *     primary: diskBackend({ dir: './data/primary' }),
 *     backup: diskBackend({ dir: '/mnt/backup/tickstore' }),
 *     ephemeral: memoryBackend({ dir: 'sessions' }),
 *     route: { ephemeral: ['session:', 'match:'] },
 *   }),
 * });
 * ```
 */
export function tieredBackend(options: TieredBackendOptions): BackendFactory {
  if (options === null || typeof options !== 'object') throw new InvalidConfigError(`tieredBackend needs an options object with a primary, got ${describeValue(options)}`);
  const o = readOptions(options, 'tieredBackend', OPTIONS, configError);
  const primary = tier('primary', o.primary, true)!;
  const backup = tier('backup', o.backup, false);
  const ephemeral = tier('ephemeral', o.ephemeral, false);
  if (ephemeral && o.route === undefined) throw new InvalidConfigError('an ephemeral tier needs a route: which keys are ephemeral');
  const router = makeRouter(o.route, ephemeral !== undefined);
  const label = `tiered(${primary.label ?? primary.kind})`;
  return Object.freeze({
    kind: 'tiered',
    label,
    open: (config: EngineConfig) => openTiers(primary, backup, ephemeral, config).then((t) => new TieredBackend(t, router)),
  } satisfies BackendFactory);
}

/** Opens every tier, or none: a tier that fails to open closes those already open, and its error is the open's. */
async function openTiers(primary: BackendFactory, backup: BackendFactory | undefined, ephemeral: BackendFactory | undefined, config: EngineConfig) {
  const opened: Backend[] = [];
  const open = async (f: BackendFactory | undefined): Promise<Backend | undefined> => {
    if (!f) return undefined;
    const b = await f.open(config);
    opened.push(b);
    return b;
  };
  try {
    const p = (await open(primary))!;
    return { primary: p, backup: await open(backup), ephemeral: await open(ephemeral) };
  } catch (err) {
    await Promise.all(opened.map((b) => b.close().catch((e: unknown) => storeLog('tiered: closing a tier after a failed open failed: %s', describeError(e)))));
    throw err;
  }
}
