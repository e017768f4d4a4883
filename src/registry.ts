import { join } from 'node:path';
import { InvalidArgumentError } from './errors.js';
import type { StoreOptions, Tunables } from './config.js';
import type { Store } from './store.js';

type Backend = 'disk' | 'memory';

/** A store handed out by a registry: close() releases this reference only. */
export interface StoreRef {
  readonly store: Store;
  /** Releases this reference; the store closes when the last one is released. Idempotent. */
  release(): Promise<void>;
}

interface Entry { store: Promise<Store>; refs: number }

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Rejects ids that could name anything but one directory right under the base. */
export function checkStoreId(id: unknown): string {
  if (typeof id !== 'string' || !ID.test(id) || id === '.' || id === '..' || id.includes('..')) {
    throw new InvalidArgumentError(`store id must be 1-128 of [A-Za-z0-9._-], not starting with a dot or containing '..': ${JSON.stringify(id)}`);
  }
  return id;
}

/**
 * One shared, reference-counted store per (id, backend) under a base
 * directory: concurrent opens of an id get one instance, and it closes when
 * the last reference is released. Disk and memory stores of the same id are
 * separate.
 */
export class StoreRegistry {
  private readonly open_ = new Map<string, Entry>();

  constructor(
    private readonly baseDir: string,
    private readonly opener: (options: StoreOptions) => Promise<Store>,
    private readonly defaults: Partial<Tunables> = {},
  ) {}

  async open(id: string, options: { backend?: Backend } = {}): Promise<StoreRef> {
    checkStoreId(id);
    const backend = options.backend ?? 'disk';
    const name = `${backend}:${id}`;
    let e = this.open_.get(name);
    if (!e) {
      const store = this.opener({ ...this.defaults, dir: join(this.baseDir, id), backend });
      e = { store, refs: 0 };
      this.open_.set(name, e);
      store.catch(() => { if (this.open_.get(name) === e) this.open_.delete(name); });
    }
    const entry = e;
    entry.refs++;
    let store: Store;
    try { store = await entry.store; } catch (err) { entry.refs--; throw err; }
    let released = false;
    return {
      store,
      release: async () => {
        if (released) return;
        released = true;
        if (--entry.refs === 0) {
          this.open_.delete(name);
          await store.close();
        }
      },
    };
  }

  /** Ids currently open, as `backend:id`. */
  get openIds(): string[] { return [...this.open_.keys()]; }
}
