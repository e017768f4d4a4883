/**
 * CPU time per thread of this process, from /proc/self/task/<tid>/schedstat
 * (nanoseconds on a CPU; Node 22 has no `process.threadCpuUsage`). The main
 * thread's tid is the pid. Used to say which thread limits a curve: the main
 * thread (issuing and delivering), the engine's worker thread, or neither
 * (then the disk's fsync latency or bandwidth does).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Each thread's name (comm) and CPU nanoseconds so far, by tid. */
export type ThreadTimes = Map<number, { name: string; ns: number }>;

/** This process's threads now. A thread that exits between the listing and its read is left out. */
export function threadTimes(): ThreadTimes {
  const out: ThreadTimes = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      out.set(Number(tid), { name, ns });
    } catch { /* the thread ended meanwhile */ }
  }
  return out;
}

/** The main thread's CPU nanoseconds so far (cheap: one file). */
export function mainThreadNs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
}

/**
 * CPU of each thread since `before`, as % of one core over `seconds`: the
 * main thread, the busiest other thread, and all threads together. Every
 * thread of a Node process is named `node`, so the busiest other one is told
 * by what runs: tickstore's engine worker, lmdb's write thread, libuv's pool
 * for the fs-callback peers — or, for a store with none, V8's GC/compiler helpers.
 */
export function threadCpuSince(before: ThreadTimes, seconds: number): { mainCpuPct: number; busiestOtherCpuPct: number; processCpuPct: number } {
  const now = threadTimes();
  let main = 0; let total = 0; let busiest = 0;
  for (const [tid, t] of now) {
    const d = t.ns - (before.get(tid)?.ns ?? 0);
    total += d;
    if (tid === process.pid) main = d;
    else if (d > busiest) busiest = d;
  }
  const pct = (ns: number): number => (100 * ns) / 1e9 / seconds;
  return { mainCpuPct: pct(main), busiestOtherCpuPct: pct(busiest), processCpuPct: pct(total) };
}
