import { LRUCache } from 'lru-cache';

export interface MemcacheOptions {
  /** Most entries held. */
  maxEntries: number;
  /** Most bytes of values held (keys are not counted). */
  maxBytes: number;
  /** How long an entry may be served after it was cached, in ms (default: until evicted or invalidated). */
  maxAgeMs?: number | undefined;
}

/**
 * The in-memory LRU in front of the read store, bounded by entries and by
 * bytes. An entry is cached under a name and tagged with the store keys it
 * was derived from: a plain GET caches under its own key (tagged with just
 * that key, at no cost); a derived value may depend on several keys, and a
 * write to any of them invalidates it.
 */
export class Memcache {
  private lru: LRUCache<string, Uint8Array>;
  /** store key → names of multi-key entries derived from it. */
  private readonly dependents = new Map<string, Set<string>>();
  /** name → its keys, for multi-key entries only. */
  private readonly deps = new Map<string, readonly string[]>();

  private readonly maxAgeMs: number | undefined;

  constructor(opts: MemcacheOptions) {
    this.maxAgeMs = opts.maxAgeMs;
    this.lru = this.make(opts);
  }

  private make(opts: MemcacheOptions): LRUCache<string, Uint8Array> {
    return new LRUCache<string, Uint8Array>({
      max: opts.maxEntries,
      maxSize: opts.maxBytes,
      sizeCalculation: (v) => Math.max(1, v.byteLength),
      dispose: (_v, name) => this.untag(name),
      ...(this.maxAgeMs ? { ttl: this.maxAgeMs, ttlAutopurge: false, updateAgeOnGet: false } : {}),
    });
  }

  get size(): number { return this.lru.size; }
  get bytes(): number { return this.lru.calculatedSize; }

  get(name: string): Uint8Array | undefined { return this.lru.get(name); }
  has(name: string): boolean { return this.lru.has(name); }

  /** Caches `value` (the caller hands over ownership) under `name`, derived from `dependsOn` (default: `[name]`). */
  set(name: string, value: Uint8Array, dependsOn?: readonly string[]): void {
    this.lru.set(name, value);
    if (!dependsOn || (dependsOn.length === 1 && dependsOn[0] === name) || !this.lru.has(name)) return;
    this.deps.set(name, dependsOn);
    for (const k of dependsOn) {
      let s = this.dependents.get(k);
      if (!s) this.dependents.set(k, (s = new Set()));
      s.add(name);
    }
  }

  /** Overwrites the single-key entry of `key` in place, if one is cached. */
  update(key: string, value: Uint8Array): void {
    if (this.lru.has(key) && !this.deps.has(key)) this.lru.set(key, value);
  }

  /** Drops the entry of `key` and every multi-key entry that depends on it. */
  invalidate(key: string): void {
    this.lru.delete(key);
    this.invalidateDerived(key);
  }

  /** Drops only the multi-key entries that depend on `key`. */
  invalidateDerived(key: string): void {
    const names = this.dependents.get(key);
    if (!names) return;
    for (const n of [...names]) this.lru.delete(n);
  }

  /** Applies new bounds, keeping the most recently used entries that fit. */
  resize(opts: Omit<MemcacheOptions, 'maxAgeMs'>): void {
    const old = this.lru;
    const keep: [string, Uint8Array][] = [];
    // Entries with an age limit are dropped rather than re-set, which would restart their age.
    if (!this.maxAgeMs) old.rforEach((v, k) => keep.push([k, v])); // least recent first
    const deps = new Map(this.deps);
    this.lru = this.make({ ...opts, maxAgeMs: this.maxAgeMs });
    old.clear();
    for (const [k, v] of keep) this.set(k, v, deps.get(k));
  }

  clear(): void { this.lru.clear(); }

  private untag(name: string): void {
    const ks = this.deps.get(name);
    if (!ks) return;
    this.deps.delete(name);
    for (const k of ks) {
      const s = this.dependents.get(k);
      if (!s) continue;
      s.delete(name);
      if (s.size === 0) this.dependents.delete(k);
    }
  }
}
