import type { BackendFactory } from '../../backend.js';
import { checkDir } from '../../config.js';
import { InvalidConfigError, describeValue } from '../../errors.js';
import { readOptions } from '../../input.js';
import { WorkerBackend } from './backend.js';

/** Options of {@link diskBackend}. Unknown options are an {@link InvalidConfigError}. */
export interface DiskBackendOptions {
  /** The store's directory (required): a non-empty path without NUL bytes or lone surrogates, created (with parents) when missing. One process per directory. */
  dir: string;
}

const configError = (m: string): InvalidConfigError => new InvalidConfigError(m);

/** Reads `{ dir }` (by property access, once) for a factory named `what`. */
export function readDirOption(what: string, options: unknown): string {
  if (options === null || typeof options !== 'object') throw new InvalidConfigError(`${what} needs an options object with dir, got ${describeValue(options)}`);
  return checkDir('dir', readOptions(options, what, ['dir'], configError).dir);
}

/**
 * The embedded engine (the default of `openStore({ dir })`): an fsync'd,
 * checksummed write log and read replica on a worker thread. As a factory it
 * can be a tier of {@link tieredBackend}, or `openStore({ backend: diskBackend({ dir }) })`.
 * The store's tunables (flush policy, sync mode, compaction) apply to it.
 *
 * @throws {@link InvalidConfigError} No options object, no valid `dir`, or an unknown option.
 *
 * @example
 * ```ts
 * const store = await openStore({ backend: diskBackend({ dir: './data' }), flushPolicy: { mode: 'grouped', intervalMs: 10 } });
 * ```
 */
export function diskBackend(options: DiskBackendOptions): BackendFactory {
  const dir = readDirOption('diskBackend', options);
  return Object.freeze({ kind: 'disk', label: dir, open: (config) => WorkerBackend.open(dir, config) } satisfies BackendFactory);
}
