import { join } from 'node:path';
import { InvalidArgumentError, InvalidConfigError, describeValue } from './errors.js';
import { readOptions } from './input.js';
import { describeError, registryLog } from './log.js';
import type { StoreOptions, Tunables } from './config.js';
import type { Store } from './store.js';

/** @inline */
type Backend = 'disk' | 'memory';

/**
 * A store handed out by {@link StoreRegistry.open}: one reference to a shared
 * store. Use `store` freely, but don't `close()` it (other references may be
 * using it): call {@link StoreRef.release} when done.
 */
export interface StoreRef {
  /** The shared store. It stays open until the last reference to it is released. */
  readonly store: Store;
  /** Releases this reference; the store closes when the last one is released. Idempotent. */
  release(): Promise<void>;
}

/** `closing`: set by the last release; the store is closing and must not be handed out, nor a second one opened on its directory, until it has. */
interface Entry { store: Promise<Store>; refs: number; closing?: Promise<void> }

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Checks a registry store id: 1–128 of `[A-Za-z0-9._-]`, starting with a
 * letter or digit and containing no `..`, so that it names exactly one
 * directory right under the registry's base directory.
 *
 * @returns `id`, unchanged.
 * @throws {@link InvalidArgumentError} Any other id (or a non-string).
 *
 * @example
 * ```ts
 * checkStoreId('world-1');   // 'world-1'
 * checkStoreId('../etc');    // throws InvalidArgumentError
 * ```
 */
export function checkStoreId(id: unknown): string {
  if (typeof id !== 'string' || !ID.test(id) || id === '.' || id === '..' || id.includes('..')) {
    throw new InvalidArgumentError(`store id must be 1-128 of [A-Za-z0-9._-], not starting with a dot or containing '..': ${describeValue(id)}`);
  }
  return id;
}

/**
 * One shared, reference-counted store per (id, backend) under a base
 * directory: concurrent opens of an id get one instance, and it closes when
 * the last reference is released. Disk and memory stores of the same id are
 * separate. Made by {@link createRegistry}.
 */
export class StoreRegistry {
  private readonly open_ = new Map<string, Entry>();

  /** @internal Use `createRegistry`. */
  constructor(
    private readonly baseDir: string,
    private readonly opener: (options: StoreOptions) => Promise<Store>,
    private readonly defaults: Partial<Tunables> = {},
  ) {}

  /**
   * Opens the store `id` (in `baseDir/id`, with the registry's default
   * tunables), or takes one more reference to it when it is already open or
   * opening: concurrent opens of one id share one store. Release every
   * reference with {@link StoreRef.release}; the last release closes it. A
   * failed open leaves nothing behind, so a later open tries again. An open
   * while the id's last release is still closing it waits for that close,
   * then opens the store again.
   *
   * @param id The store's id, checked by {@link checkStoreId}.
   * @param options `backend`: `'disk'` (default) or `'memory'` (see {@link StoreOptions.backend}); a disk and a memory store of one id are separate stores.
   * @throws {@link InvalidArgumentError} (rejects) An invalid id, or options that are not `{ backend }`.
   * @throws {@link InvalidConfigError} | {@link StoreLockedError} | {@link CorruptionError} | {@link StoreIOError} (rejects) As {@link openStore}.
   *
   * @example
   * ```ts
   * const ref = await registry.open('world');
   * try {
   *   await ref.store.get('motd');
   * } finally {
   *   await ref.release();
   * }
   * ```
   */
  async open(id: string, options?: { backend?: Backend }): Promise<StoreRef> {
    checkStoreId(id);
    const backend = readOptions(options, 'registry open', ['backend']).backend ?? 'disk';
    if (backend !== 'disk' && backend !== 'memory') throw new InvalidConfigError(`backend must be 'disk' or 'memory', got ${describeValue(backend)}`);
    const name = `${backend}:${id}`;
    let e = this.open_.get(name);
    // The directory is held until that close finishes (and whoever resumes first opens it anew; the others share that).
    while (e?.closing) {
      await e.closing.catch(() => undefined);
      e = this.open_.get(name);
    }
    if (!e) {
      const store = this.opener({ ...this.defaults, dir: join(this.baseDir, id), backend });
      e = { store, refs: 0 };
      this.open_.set(name, e);
      store.catch((err: unknown) => {
        registryLog('open of %s failed: %s', name, describeError(err));
        if (this.open_.get(name) === e) this.open_.delete(name);
      });
      registryLog('opening %s in %s', name, join(this.baseDir, id));
    }
    const entry = e;
    entry.refs++;
    registryLog('%s: refs=%d', name, entry.refs);
    let store: Store;
    try { store = await entry.store; } catch (err) { entry.refs--; throw err; }
    if (store.isClosed || store.health().problems.some((p) => p.kind === 'engine-dead')) {
      // Closed under the registry, or its engine thread died: no new reference gets it. Its holders keep
      // theirs (their release is harmless); the directory opens anew once that store has let go of it.
      entry.refs--;
      if (this.open_.get(name) === entry) this.open_.delete(name);
      registryLog('%s is %s: opening it anew', name, store.isClosed ? 'closed' : 'dead');
      await store.close().catch(() => undefined);
      return this.open(id, options);
    }
    let released = false;
    return {
      store,
      release: async () => {
        if (released) return;
        released = true;
        if (--entry.refs === 0 && this.open_.get(name) === entry) {
          registryLog('%s released by its last reference: closing', name);
          entry.closing = store.close().finally(() => {
            if (this.open_.get(name) === entry) this.open_.delete(name);
          });
          await entry.closing;
        } else registryLog('%s released: refs=%d', name, entry.refs);
      },
    };
  }

  /** Ids currently open or opening (not those whose last reference was released), as `backend:id`. */
  get openIds(): string[] { return [...this.open_].filter(([, e]) => !e.closing).map(([name]) => name); }
}
