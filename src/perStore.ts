import type { Store } from './store.js';

/**
 * State kept per store (counters, queues) by the layers above it, made on
 * first use and gone with the store (a WeakMap: nothing pins a closed store).
 */
export function perStore<T>(make: () => T): (store: Store) => T {
  const byStore = new WeakMap<Store, T>();
  return (store) => {
    let v = byStore.get(store);
    if (v === undefined) byStore.set(store, v = make());
    return v;
  };
}
