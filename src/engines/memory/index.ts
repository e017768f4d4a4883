import type { BackendFactory } from '../../backend.js';
import { WorkerBackend } from '../disk/backend.js';
import { readDirOption } from '../disk/index.js';

/** Options of {@link memoryBackend}. Unknown options are an {@link InvalidConfigError}. */
export interface MemoryBackendOptions {
  /** The data set's name: opening the same name again in this process sees its data; nothing outlives the process. */
  dir: string;
}

/**
 * The embedded engine on an in-memory file system (`openStore({ dir, backend: 'memory' })`):
 * the same semantics as {@link diskBackend}, nothing survives the process.
 * Tests, and rebuildable data as the ephemeral tier of {@link tieredBackend}.
 *
 * @throws {@link InvalidConfigError} No options object, no valid `dir`, or an unknown option.
 *
 * @example
 * ```ts
 * const sessions = memoryBackend({ dir: 'sessions' });
 * const store = await openStore({ backend: tieredBackend({ primary: diskBackend({ dir: './data' }), ephemeral: sessions, route: { ephemeral: ['session:'] } }) });
 * ```
 */
export function memoryBackend(options: MemoryBackendOptions): BackendFactory {
  const dir = readDirOption('memoryBackend', options);
  return Object.freeze({ kind: 'memory', label: dir, open: (config) => WorkerBackend.openMemory(dir, config) } satisfies BackendFactory);
}
