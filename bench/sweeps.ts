/**
 * The sweeps' own workloads (bench/run.ts --sweep): what the cases in
 * workloads.ts do not measure already. The open sweep reuses preload, W4 and
 * engineBytesPerKey at each key count; the W1 and W3 sweeps reuse w1 and w3.
 */
import { performance } from 'node:perf_hooks';
import { benchBytes as bytes, benchKey as key, type Figures } from './workloads.js';
import { TickstoreAdapter } from './stores.js';
import { threadCpuSince, threadTimes } from './threads.js';

/**
 * Compaction time at `n` keys: every one of the `n` (100 B) keys preloaded
 * in `dir` is overwritten once (the write log is then about half dead), and
 * `store.compact()` is timed alone, with the CPU of the main thread and of
 * the busiest other thread (the engine's) over it.
 */
export async function compactAt(dir: string, n: number): Promise<Figures> {
  const store = new TickstoreAdapter();
  await store.open(dir);
  const v = bytes(100, 8);
  for (let i = 0; i < n; i += 1000) {
    await store.store.batch(Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: v })));
  }
  const m0 = store.store.metrics();
  const th0 = threadTimes();
  const s = performance.now();
  await store.store.compact();
  const secs = (performance.now() - s) / 1000;
  const cpu = threadCpuSince(th0, secs);
  const m1 = store.store.metrics();
  await store.close();
  return {
    compactSeconds: secs, logBytesBefore: m0.writeLogBytes, logBytesAfter: m1.writeLogBytes,
    compactMainCpuPct: cpu.mainCpuPct, compactOtherCpuPct: cpu.busiestOtherCpuPct,
  };
}
