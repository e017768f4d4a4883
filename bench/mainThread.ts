/**
 * Main-thread cost per op (issue 15): nanoseconds the issuing thread spends
 * per op, with the engine's work (on its own thread) excluded by measuring
 * only this thread. Three measures per kind of op:
 *
 * - issue: wall time of the loop that calls `ticker.put/get` (nothing else
 *   runs on this thread meanwhile, and the loop is far shorter than a
 *   scheduler slice, so wall ≈ this thread's CPU);
 * - tick: wall time of `ticker.tick()` per result it delivered (onResult);
 * - total: this thread's CPU (/proc schedstat) over the whole phase per op:
 *   issue + tick + receiving the engine's reply messages + the event loop.
 *   Between rounds the thread sleeps on a timer rather than spinning, so
 *   waiting for the engine costs it (almost) nothing.
 *
 * Puts are 2 KiB; hits are keys the memcache holds (delivered at the next
 * tick, no message); misses are keys on disk not in the memcache.
 */
import { performance } from 'node:perf_hooks';
import { benchBytes as bytes, benchKey as key, type Figures } from './workloads.js';
import { TickstoreAdapter } from './stores.js';
import { mainThreadNs } from './threads.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Per round (one game tick's worth), as W3 issues them. */
const ROUND = 150;

/**
 * MT in a fresh tickstore in `dir`: `ops` puts, misses and hits each (after
 * a warm-up), as ns per op: `<kind>IssueNs`, `<kind>DeliverNs` (per result
 * in tick()), `<kind>TotalNs` (main-thread CPU), and hit/miss issue + deliver.
 * Throws if a phase's gets were not all misses or all hits (then the figure
 * would measure the wrong path).
 */
export async function mainThreadCost(dir: string, ops: number): Promise<Figures> {
  const store = new TickstoreAdapter(4096);
  await store.open(dir);
  // Keys for the misses: on disk, never read, so never in the memcache (writes evict under the default policy).
  const missKeys = Math.max(ops, 4096);
  const v1k = bytes(1024, 4);
  for (let i = 0; i < missKeys; i += 1000) {
    await store.store.batch(Array.from({ length: Math.min(1000, missKeys - i) }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: v1k })));
  }
  let delivered = 0;
  const t = store.store.ticker({ onResult: () => { delivered++; } });

  /** Issues `n` ops in rounds of ROUND via `issue(i)`, ticks until each round's results are in. */
  const phase = async (n: number, issue: (i: number) => void, wait: boolean): Promise<{ issueNs: number; tickNs: number; totalNs: number }> => {
    let issueMs = 0; let tickMs = 0;
    delivered = 0;
    const cpu0 = mainThreadNs();
    for (let i = 0; i < n; i += ROUND) {
      const end = Math.min(n, i + ROUND);
      const a = performance.now();
      for (let j = i; j < end; j++) issue(j);
      const b = performance.now();
      issueMs += b - a;
      for (;;) {
        const c = performance.now();
        t.tick();
        tickMs += performance.now() - c;
        if (delivered >= end) break;
        if (wait) await sleep(1); else await new Promise((r) => setImmediate(r));
      }
    }
    const totalNs = mainThreadNs() - cpu0;
    return { issueNs: (issueMs * 1e6) / n, tickNs: (tickMs * 1e6) / delivered, totalNs: totalNs / n };
  };

  const value = bytes(2048, 6);
  // Warm the JIT on every path before measuring (a small share of each).
  const warm = Math.min(3000, ops >> 2);
  await phase(warm, (i) => t.put(key(missKeys + (i % 1000)), value), true);
  const puts = await phase(ops, (i) => t.put(key(missKeys + (i % 10_000)), value), true);
  const m0 = store.store.metrics();
  const misses = await phase(ops, (i) => t.get(key(i)), true);
  const m1 = store.store.metrics();
  // Hits: a hot set the memcache holds (it was just filled by the last misses).
  const hot = Array.from({ length: 512 }, (_, i) => key(ops - 512 + i));
  await phase(2048, (i) => t.get(hot[i & 511]!), false);
  const m2 = store.store.metrics();
  const hits = await phase(ops, (i) => t.get(hot[i & 511]!), false);
  const m3 = store.store.metrics();
  await store.close();
  const missRatio = (m1.cacheMisses - m0.cacheMisses) / ops;
  const hitRatio = (m3.cacheHits - m2.cacheHits) / ops;
  if (missRatio < 0.99 || hitRatio < 0.99) throw new Error(`main-thread cost: misses ${missRatio}, hits ${hitRatio} of their ops (want all)`);
  return {
    putIssueNs: puts.issueNs, putDeliverNs: puts.tickNs, putTotalNs: puts.totalNs,
    hitIssueNs: hits.issueNs, hitDeliverNs: hits.tickNs, hitNs: hits.issueNs + hits.tickNs, hitTotalNs: hits.totalNs,
    missIssueNs: misses.issueNs, missDeliverNs: misses.tickNs, missNs: misses.issueNs + misses.tickNs, missTotalNs: misses.totalNs,
    ops,
  };
}
