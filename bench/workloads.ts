/**
 * The game-shaped workloads. Each runs in a fresh child process against one
 * store and returns flat figures (numbers) that the runner tabulates. Sizes
 * come from the runner, so CI can run the same code tiny.
 */
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { DiskEngine } from '../src/engines/disk/thread/diskEngine.js';
import { nodeFileSystem } from '../src/engines/disk/thread/fs.js';
import { engineConfig } from '../src/config.js';
import { DEFAULTS } from '../src/index.js';
import { Op, OpWriter, ReplyWriter, readOps } from '../src/engines/disk/wire.js';
import { adapter, isBulkLoader, isSyncWriter, TickstoreAdapter, type Adapter } from './stores.js';
import { threadCpuSince, threadTimes } from './threads.js';

export type Figures = Record<string, number>;

export interface Sizes {
  /** W1 ops per outstanding level. */
  w1Ops: number;
  /** W2 keys preloaded, and random gets measured. */
  w2Keys: number;
  w2Gets: number;
  /** W3/W6 seconds of ticking. */
  w3Seconds: number;
  /** W4 keys. */
  w4Keys: number;
  /** W5 gets. */
  w5Gets: number;
  /** W6 bytes of live data before the overwrite that makes it 50% dead. */
  w6Bytes: number;
  /** W7 keys. */
  w7Keys: number;
  /** W9 seconds of writing, per process count. */
  w9Seconds: number;
  /** MT (main-thread cost): ops of each kind measured. */
  mtOps: number;
  /** Sweeps: seconds of ticking per W3 load point; the byte budget of each W1 size point. */
  sweepW3Seconds: number;
  sweepW1Bytes: number;
}

export const SIZES: Record<'smoke' | 'mid' | 'full', Sizes> = {
  smoke: { w1Ops: 300, w2Keys: 5000, w2Gets: 5000, w3Seconds: 1, w4Keys: 20_000, w5Gets: 200_000, w6Bytes: 8 << 20, w7Keys: 20_000, w9Seconds: 1, mtOps: 3000, sweepW3Seconds: 1, sweepW1Bytes: 4 << 20 },
  // Shorter than full where only the length of a run changes, full where the size is the target's own (W4, W7: 1M keys).
  mid: { w1Ops: 2000, w2Keys: 100_000, w2Gets: 100_000, w3Seconds: 5, w4Keys: 1_000_000, w5Gets: 2_000_000, w6Bytes: 128 << 20, w7Keys: 1_000_000, w9Seconds: 3, mtOps: 50_000, sweepW3Seconds: 3, sweepW1Bytes: 64 << 20 },
  full: { w1Ops: 5000, w2Keys: 200_000, w2Gets: 200_000, w3Seconds: 10, w4Keys: 1_000_000, w5Gets: 5_000_000, w6Bytes: 512 << 20, w7Keys: 1_000_000, w9Seconds: 10, mtOps: 100_000, sweepW3Seconds: 5, sweepW1Bytes: 128 << 20 },
};

const key = (i: number): string => `player:${String(i).padStart(8, '0')}`;
const bytes = (n: number, seed: number): Uint8Array => new Uint8Array(n).fill(seed & 0xff);
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** A small deterministic PRNG, so every store reads the same keys. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
}

/**
 * W1: durable puts of `valueSize` bytes (2 KiB unless the size sweep says
 * otherwise) with `outstanding` in flight: ops/s, MB/s, ack latency, and the
 * CPU of the main thread and of the busiest other thread (the engine's).
 */
export async function w1(store: Adapter, dir: string, outstanding: number, ops: number, valueSize = 2048): Promise<Figures> {
  await store.open(dir);
  const value = bytes(valueSize, 7);
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const th0 = threadTimes();
  if (isSyncWriter(store) && outstanding === 1) {
    // The single synchronous writer: the 1-outstanding floor.
    for (let i = 0; i < ops; i++) { const s = performance.now(); store.putSync(value); lat.push(performance.now() - s); }
  } else {
    const lane = async (): Promise<void> => {
      while (next < ops) {
        const i = next++;
        const s = performance.now();
        await store.put(key(i % 10_000), value);
        lat.push(performance.now() - s);
      }
    };
    await Promise.all(Array.from({ length: outstanding }, lane));
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const { mainCpuPct, busiestOtherCpuPct } = threadCpuSince(th0, secs);
  await store.close();
  lat.sort((a, b) => a - b);
  // This process's CPU (all its threads: a disk engine's thread too) per acknowledged write.
  return {
    opsPerSec: ops / secs, p50Ms: pct(lat, 0.5), p99Ms: pct(lat, 0.99), ops, cpuUsPerWrite: (cpu.user + cpu.system) / ops,
    mbPerSec: (ops * valueSize) / secs / 1e6, mainCpuPct, otherCpuPct: busiestOtherCpuPct,
  };
}

/** Fills a store with `n` keys of `size` bytes (not measured): its bulk write if it has one (stores.ts BulkLoader), else 64 writes in flight. */
export async function preload(store: Adapter, dir: string, n: number, size: number): Promise<Figures> {
  await store.open(dir);
  let next = 0;
  const value = bytes(size, 3);
  const t0 = performance.now();
  if (store instanceof TickstoreAdapter) {
    // Big batches: loading is not what is measured.
    for (let i = 0; i < n; i += 1000) {
      await store.store.batch(Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ type: 'put' as const, key: key(i + j), value })));
    }
  } else if (isBulkLoader(store)) {
    for (let i = 0; i < n; i += 10_000) await store.putMany(Array.from({ length: Math.min(10_000, n - i) }, (_, j): [string, Uint8Array] => [key(i + j), value]));
  } else {
    await Promise.all(Array.from({ length: 64 }, async () => { while (next < n) await store.put(key(next++), value); }));
  }
  const secs = (performance.now() - t0) / 1000;
  await store.close();
  return { loadSeconds: secs };
}

/**
 * W2: random gets of a preloaded store, in this fresh process. `mode`:
 * 'ticker' issues 500 gets per 1 ms tick through a ticker (tickstore), or
 * the same number of synchronous gets per tick for sync stores; 'promise'
 * keeps 64 promise gets in flight.
 */
export async function w2(store: Adapter, dir: string, keys: number, gets: number, mode: 'ticker' | 'promise'): Promise<Figures> {
  const r = rng(42);
  const t0 = performance.now();
  await store.open(dir);
  const openMs = performance.now() - t0;
  let found = 0;
  const s = performance.now();
  if (mode === 'ticker' && store instanceof TickstoreAdapter) {
    let done = 0;
    const t = store.store.ticker({ onResult: (res) => { done++; if (res.found) found++; } });
    let issued = 0;
    while (done < gets) {
      for (let i = 0; i < 500 && issued < gets; i++, issued++) t.get(key(r(keys)));
      await new Promise((res) => setImmediate(res));
      t.tick();
    }
  } else if (store.syncGets) {
    for (let i = 0; i < gets; i++) if (store.get(key(r(keys)))) found++;
  } else {
    let next = 0;
    await Promise.all(Array.from({ length: 64 }, async () => { while (next++ < gets) if (await store.get(key(r(keys)))) found++; }));
  }
  const secs = (performance.now() - s) / 1000;
  await store.close();
  return { getsPerSec: gets / secs, foundRatio: found / gets, openMs };
}

/**
 * W3: a 20 Hz tick doing 1 ms of work while `rate` durable writes/s and
 * `rate` reads/s are offered (issued from the tick, as a room would). Returns
 * event-loop delay p99/max, late ticks (> 5 ms behind schedule) and the
 * rates achieved, and each thread's CPU while ticking. `store` undefined: the
 * same tick with no store; a tickstore adapter with `viaPromises` issues
 * through promises instead of a ticker.
 */
export async function w3(store: Adapter | undefined, dir: string, seconds: number, rate: number, keys = 10_000): Promise<Figures> {
  if (store) {
    await store.open(dir);
    const v = bytes(1024, 1);
    for (let i = 0; i < keys; i += 500) await Promise.all(Array.from({ length: 500 }, (_, j) => store.put(key(i + j), v)));
  }
  const ticker = store instanceof TickstoreAdapter && !store.viaPromises ? store.ticker() : undefined;
  const r = rng(7);
  const value = bytes(1024, 9);
  let writesDone = 0; let readsDone = 0;
  const perTick = Math.round(rate / 20);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let late = 0; let worstLateMs = 0;
  const ticks = seconds * 20;
  const th0 = threadTimes();
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let n = 0;
    const tick = (): void => {
      const due = start + n * 50;
      const lateBy = performance.now() - due;
      if (lateBy > 5) late++;
      if (lateBy > worstLateMs) worstLateMs = lateBy;
      if (ticker) {
        ticker.tick();
        for (let r2 = ticker.poll(); r2; r2 = ticker.poll()) { if (r2.op === 'put') writesDone++; else readsDone++; }
      }
      if (store) {
        for (let i = 0; i < perTick; i++) {
          if (ticker) { ticker.put(key(r(keys)), value); ticker.get(key(r(keys))); continue; }
          void store.put(key(r(keys)), value).then(() => { writesDone++; });
          const g = store.get(key(r(keys)));
          if (g instanceof Promise) void g.then(() => { readsDone++; }); else readsDone++;
        }
      }
      const busy = performance.now() + 1;
      while (performance.now() < busy); // the room's own 1 ms of game logic
      n++;
      if (n >= ticks) { resolve(); return; }
      setTimeout(tick, Math.max(0, start + n * 50 - performance.now()));
    };
    setTimeout(tick, 0);
  });
  const elapsed = (performance.now() - start) / 1000;
  const { mainCpuPct, busiestOtherCpuPct } = threadCpuSince(th0, elapsed);
  h.disable();
  // Let what is in flight finish, so achieved rates count only what completed in time.
  const wr = writesDone; const rd = readsDone;
  if (store) await store.close();
  return {
    delayP99Ms: h.percentile(99) / 1e6, delayMaxMs: h.max / 1e6, lateTicks: late, worstLateMs,
    writesPerSec: wr / elapsed, readsPerSec: rd / elapsed, offeredPerSec: store ? perTick * 20 : 0,
    mainCpuPct, otherCpuPct: busiestOtherCpuPct,
    // Served: ops completed by the end ÷ those issued before the last tick (the last tick's own cannot be back yet).
    servedRatio: store ? Math.min(wr, rd) / (perTick * (ticks - 1)) : 1,
  };
}

/** W4: open a store of `n` keys in this fresh process and serve the first get. */
export async function w4(store: Adapter, dir: string, n: number): Promise<Figures> {
  const th0 = threadTimes();
  const t0 = performance.now();
  await store.open(dir);
  const v = await store.get(key(n >> 1));
  const ms = performance.now() - t0;
  // CPU ms of the main thread and of the busiest other one (tickstore's engine thread, started by the open) over the open.
  const cpu = threadCpuSince(th0, ms / 1000);
  if (!v) throw new Error('W4: the first get found nothing');
  await store.close();
  return { openAndFirstGetMs: ms, openMainCpuMs: (cpu.mainCpuPct * ms) / 100, openOtherCpuMs: (cpu.busiestOtherCpuPct * ms) / 100 };
}

/**
 * W5: memcache hits. 10k keys, memcache of 4096 entries, a skewed access
 * pattern (80% of gets on 10% of keys) through a ticker: hit rate and gets/s;
 * the peer is lru-cache's own get on the same pattern, same process.
 */
export async function w5(dir: string, gets: number): Promise<Figures> {
  const store = new TickstoreAdapter(4096);
  await store.open(dir);
  const v = bytes(256, 5);
  for (let i = 0; i < 10_000; i += 1000) await store.store.batch(Array.from({ length: 1000 }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: v })));
  const r = rng(11);
  const pattern = Array.from({ length: 1 << 16 }, () => (r(10) < 8 ? r(1000) : r(10_000))).map(key);
  const t = store.ticker();
  // Warm: one pass through the pattern fills the cache.
  for (const k of pattern) t.get(k);
  while (t.waiting + store.store.metrics().opsInFlight > 0) { await new Promise((res) => setImmediate(res)); t.tick(); while (t.poll()); }
  const m0 = store.store.metrics();
  let got = 0;
  const s = performance.now();
  const sink = t;
  for (let i = 0; i < gets; i += 1000) {
    for (let j = 0; j < 1000; j++) sink.get(pattern[(i + j) & 0xffff]!);
    if (t.waiting + got < i) await new Promise((res) => setImmediate(res));
    t.tick();
    for (let x = t.poll(); x; x = t.poll()) got++;
  }
  while (got < gets) { await new Promise((res) => setImmediate(res)); t.tick(); for (let x = t.poll(); x; x = t.poll()) got++; }
  const secs = (performance.now() - s) / 1000;
  const m1 = store.store.metrics();
  // Pure hits: keys the memcache holds, a tick's worth at a time, delivered to onResult.
  const hot = pattern.slice(0, 4096).filter((k, i, a) => a.indexOf(k) === i).slice(0, 512);
  let delivered = 0;
  const ht = store.store.ticker({ onResult: () => { delivered++; } });
  for (const k of hot) ht.get(k);
  while (delivered < hot.length) { await new Promise((res) => setImmediate(res)); ht.tick(); }
  const hits0 = store.store.metrics().cacheHits;
  const hs = performance.now();
  for (let i = 0; i < gets; i += hot.length) { for (const k of hot) ht.get(k); ht.tick(); }
  const hitSecs = (performance.now() - hs) / 1000;
  const pureHits = store.store.metrics().cacheHits - hits0;
  await store.close();
  const lru = new LRUCache<string, Uint8Array>({ max: 4096 });
  for (const k of pattern) lru.set(k, v);
  let lh = 0;
  const ls = performance.now();
  for (let i = 0; i < gets; i++) { const k = pattern[i & 0xffff]!; if (lru.get(k)) lh++; else lru.set(k, v); }
  const lsecs = (performance.now() - ls) / 1000;
  // The bare lru-cache get on the pure-hit set above (issue 15's W5 peer): the same keys, the same count, every one a hit.
  for (const k of hot) lru.set(k, v);
  let lhits = 0;
  const lhs = performance.now();
  for (let i = 0; i < gets; i += hot.length) for (const k of hot) if (lru.get(k)) lhits++;
  const lruHitSecs = (performance.now() - lhs) / 1000;
  const hits = m1.cacheHits - m0.cacheHits;
  return {
    hitRate: hits / gets, getsPerSec: gets / secs, hitGetsPerSec: pureHits / hitSecs, lruGetsPerSec: gets / lsecs, lruHitRate: lh / gets,
    lruHitGetsPerSec: lhits / lruHitSecs,
  };
}

/**
 * W6 setup, in its own process like W2's and W4's: `liveBytes` of 16 KiB
 * values, all overwritten once, so the log is ~50% dead. (Filling in the
 * measured process left its garbage to that process's collector: the
 * pauses measured were the fill's, not the compaction's.)
 */
export async function w6Preload(dir: string, liveBytes: number): Promise<Figures> {
  const store = new TickstoreAdapter();
  await store.open(dir);
  const valueSize = 16 * 1024;
  const n = Math.max(1, Math.floor(liveBytes / valueSize));
  const v = bytes(valueSize, 2);
  const t0 = performance.now();
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < n; i += 64) await store.store.batch(Array.from({ length: Math.min(64, n - i) }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: v })));
  }
  await store.close();
  return { loadSeconds: (performance.now() - t0) / 1000 };
}

/** W6: `store.compact()` of the preloaded log while the W3 tick runs in this fresh process. */
export async function w6(dir: string, seconds: number): Promise<Figures> {
  const store = new TickstoreAdapter();
  await store.open(dir);
  const m0 = store.store.metrics();
  const compaction = store.store.compact();
  const s = performance.now();
  const tick = await w3Ticking(store, seconds);
  await compaction;
  const compactSecs = (performance.now() - s) / 1000;
  const m1 = store.store.metrics();
  await store.close();
  return { ...tick, logBytesBefore: m0.writeLogBytes, logBytesAfter: m1.writeLogBytes, compactSeconds: compactSecs };
}

/** The W3 tick over an already open tickstore (for W6). */
export async function w3Ticking(store: TickstoreAdapter, seconds: number): Promise<Figures> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t = store.ticker();
  let late = 0; let worst = 0;
  // Ticks between an op's issue and its result: > 1 means the engine held it past a whole tick.
  const issuedAt = new Map<number, number>();
  let maxAge = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let n = 0;
    const tick = (): void => {
      const lateBy = performance.now() - (start + n * 50);
      if (lateBy > 5) late++;
      worst = Math.max(worst, lateBy);
      t.tick();
      for (let r = t.poll(); r; r = t.poll()) {
        maxAge = Math.max(maxAge, n - issuedAt.get(r.handle)!);
        issuedAt.delete(r.handle);
      }
      for (let i = 0; i < 150; i++) { issuedAt.set(t.put(key(i), bytes(1024, i)), n); issuedAt.set(t.get(key(i + 150)), n); }
      const busy = performance.now() + 1;
      while (performance.now() < busy);
      if (++n >= seconds * 20) { resolve(); return; }
      setTimeout(tick, Math.max(0, start + n * 50 - performance.now()));
    };
    setTimeout(tick, 0);
  });
  h.disable();
  return { delayP99Ms: h.percentile(99) / 1e6, delayMaxMs: h.max / 1e6, lateTicks: late, worstLateMs: worst, maxResultAgeTicks: maxAge };
}

/**
 * W7: bytes per live key beyond the key's own bytes, for the engine's
 * indexes (both logs' keydirs), measured in-thread with forced GCs. Counts
 * the JS heap and ArrayBuffer memory (the key table's typed arrays and
 * arena live there, outside `heapUsed`).
 */
export async function w7(dir: string, n: number): Promise<Figures> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('W7 needs --expose-gc');
  const engine = DiskEngine.open(nodeFileSystem, dir, engineConfig({ ...DEFAULTS }));
  const v = bytes(100, 1);
  for (let i = 0; i < n; i += 5000) {
    const w = new OpWriter();
    for (let j = i; j < Math.min(n, i + 5000); j++) { w.push(Op.Put, key(j), v); }
    engine.execute(readOps(w.take()), new ReplyWriter());
  }
  engine.close();
  const keyBytes = key(0).length;
  const perKey = engineBytesPerKey(dir, n, true);
  // The same after a crash: no hint, the index grows as the scan finds keys (arrays with slack).
  unlinkSync(join(dir, 'index.hint'));
  const scannedPerKey = engineBytesPerKey(dir, n, false);
  return { heapBytesPerKey: perKey, beyondKeyBytes: perKey - keyBytes, beyondKeyBytesScanned: scannedPerKey - keyBytes, keyBytes };
}

/**
 * Heap + ArrayBuffer bytes per key that opening the disk engine on `dir` (of
 * `n` keys) adds, in this thread, with forced GCs around it; `fromHint` says
 * which open is expected (hint file, or a scan after a crash). Needs --expose-gc.
 */
export function engineBytesPerKey(dir: string, n: number, fromHint: boolean): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the heap measurement needs --expose-gc');
  const used = (): number => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
  gc(); gc();
  const before = used();
  const engine = DiskEngine.open(nodeFileSystem, dir, engineConfig({ ...DEFAULTS }));
  gc(); gc();
  const perKey = (used() - before) / n;
  if (engine.ws.keydir.size !== n || engine.fromHint !== fromHint) throw new Error(`wrong key count (${engine.ws.keydir.size} of ${n}), or the hint was${fromHint ? ' not' : ''} used`);
  engine.close();
  return perKey;
}

export const benchKey = key;
export const benchBytes = bytes;

export { adapter };

/** The W9 processes' player keys: worker `w` writes 10 records each of its own 1000 players (funcId 1), as rooms on one process would. */
function w9Key(w: number, i: number): string {
  const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
  return `00000001:${hex(w * 1_000_000 + (i % 1000), 16)}:${hex(Math.floor(i / 1000) % 10, 16)}`;
}

/**
 * W9, one of the processes sharing one Redis: opens the store, prints
 * `READY`, waits for a line on stdin (the runner sends it to all processes
 * at once), then keeps 64 durable 2 KiB puts in flight for `seconds`.
 * Counts the puts acknowledged within that window.
 */
export async function w9Worker(store: Adapter, dir: string, seconds: number, worker: number): Promise<Figures> {
  await store.open(dir);
  const value = bytes(2048, 7 + worker);
  process.stdout.write('READY\n');
  await new Promise<void>((resolve) => { process.stdin.once('data', () => resolve()); });
  process.stdin.pause();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const end = t0 + seconds * 1000;
  let acked = 0; let next = 0;
  const lat: number[] = [];
  const lane = async (): Promise<void> => {
    while (performance.now() < end) {
      const s = performance.now();
      await store.put(w9Key(worker, next++), value);
      const now = performance.now();
      if (now <= end) { acked++; lat.push(now - s); }
    }
  };
  await Promise.all(Array.from({ length: 64 }, lane));
  const secs = Math.min(performance.now(), end) - t0;
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  lat.sort((a, b) => a - b);
  return { acked, seconds: secs / 1000, opsPerSec: acked / (secs / 1000), p50Ms: pct(lat, 0.5), p99Ms: pct(lat, 0.99), cpuUs: cpu.user + cpu.system };
}
