/**
 * The curves (`npm run bench -- --sweep open,w1size,w3load`): how each cost
 * grows as the work grows, one fresh child process per point as for the
 * cases, then a table and line charts per sweep.
 *
 * - open: at each key count (`--keys`, default 100k, 1M, 10M; smoke 10k,
 *   30k) of 100 B values, tickstore and lmdb are filled by one process, then
 *   opened + first get in a fresh one; for tickstore also the heap per key of
 *   its index (in-thread, forced GCs), the open after a crash (hint deleted),
 *   and a compaction after every key was overwritten once.
 * - w1size: W1's durable puts at value sizes 100 B .. 256 KiB, 64 and 1
 *   outstanding, against lmdb and the plain logs.
 * - w3load: W3's tick at 1k .. 30k offered ops/s (half durable writes, half
 *   reads), tickstore through a ticker and through promises, lmdb, Redis.
 *
 * Every point also records the CPU of the main thread and of the busiest
 * other thread over what it measures, which is how the doc says what limits
 * each curve.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lineChart, type Series } from './chart.js';
import type { BenchRedis } from './redisServer.js';
import type { Figures } from './workloads.js';

export const SWEEPS = ['open', 'w1size', 'w3load'] as const;

/** One point of one series of a sweep. */
export interface SweepRow { label: string; sweep: string; series: string; store: string; x: number; figures?: Figures; error?: string }

export interface SweepContext {
  sweeps: string[];
  keys: number[];
  smoke: boolean;
  label: string;
  /** The runner's redis-server (w3load's Redis series), if there is one. */
  redis: BenchRedis | undefined;
  run(kase: string, store: string, dir: string, gc: boolean, param: string): Promise<Figures>;
  record(row: SweepRow): void;
}

const W1_SERIES = [
  { series: 'tickstore, 64 outstanding', store: 'tickstore', outstanding: 64 },
  { series: 'lmdb, 64 outstanding', store: 'lmdb', outstanding: 64 },
  { series: 'append+fdatasync, 64 (group commit)', store: 'append+fdatasync', outstanding: 64 },
  { series: 'tickstore, 1 outstanding', store: 'tickstore', outstanding: 1 },
  { series: 'overwrite+fdatasync, 1 (sync)', store: 'overwrite+fdatasync', outstanding: 1 },
];
const W3_SERIES = [
  { series: 'no store', store: 'none' },
  { series: 'tickstore (ticker)', store: 'tickstore' },
  { series: 'tickstore (promises)', store: 'tickstore-promise' },
  { series: 'lmdb', store: 'lmdb' },
  { series: 'redis', store: 'redis' },
];

export async function runSweeps(ctx: SweepContext): Promise<void> {
  const withDir = async (name: string, fn: (dir: string) => Promise<void>): Promise<void> => {
    const dir = mkdtempSync(join(tmpdir(), `bench-sweep-${name}-`));
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
  const point = (sweep: string, series: string, store: string, x: number, figures: Figures, error?: string): void =>
    ctx.record({ label: ctx.label, sweep, series, store, x, figures, ...(error ? { error } : {}) });

  if (ctx.sweeps.includes('open')) {
    for (const n of ctx.keys) {
      for (const store of ['tickstore', 'lmdb']) {
        await withDir('open', async (dir) => {
          const f: Figures = {};
          try {
            Object.assign(f, await ctx.run('S-preload', store, dir, false, String(n)));
            const open = await ctx.run('S-open', store, dir, false, String(n));
            Object.assign(f, { openMs: open.openAndFirstGetMs!, openMainCpuMs: open.openMainCpuMs!, openOtherCpuMs: open.openOtherCpuMs! });
            if (store === 'tickstore') {
              Object.assign(f, await ctx.run('S-heap', store, dir, true, String(n)));
              const scan = await ctx.run('S-open-scan', store, dir, false, String(n));
              Object.assign(f, { scanOpenMs: scan.openAndFirstGetMs!, scanMainCpuMs: scan.openMainCpuMs!, scanOtherCpuMs: scan.openOtherCpuMs! });
              Object.assign(f, await ctx.run('S-compact', store, dir, false, String(n)));
            }
            point('open', store, store, n, f);
          } catch (e) { point('open', store, store, n, f, (e as Error).message); }
        });
      }
    }
  }
  if (ctx.sweeps.includes('w1size')) {
    const sizes = ctx.smoke ? [100, 2048, 65536] : [100, 1024, 4096, 16384, 65536, 262144];
    for (const size of sizes) {
      for (const s of W1_SERIES) {
        await withDir('w1', async (dir) => {
          try { point('w1size', s.series, s.store, size, await ctx.run('S-w1size', s.store, dir, false, `${s.outstanding}:${size}`)); }
          catch (e) { point('w1size', s.series, s.store, size, {}, (e as Error).message); }
        });
      }
    }
  }
  if (ctx.sweeps.includes('w3load')) {
    const rates = ctx.smoke ? [1000, 6000] : [1000, 3000, 6000, 10_000, 20_000, 30_000];
    for (const rate of rates) {
      for (const s of W3_SERIES) {
        if (s.store === 'redis' && !ctx.redis) continue;
        await withDir('w3', async (dir) => {
          try {
            if (s.store === 'redis') await ctx.redis!.reset();
            point('w3load', s.series, s.store, rate, await ctx.run('S-w3load', s.store, dir, false, String(rate)));
          } catch (e) { point('w3load', s.series, s.store, rate, {}, (e as Error).message); }
        });
      }
    }
  }
}

function num(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : Number(v.toPrecision(3)).toString();
}
const bytesLabel = (b: number): string => (b >= 1024 ? `${Number((b / 1024).toPrecision(3))} KiB` : `${b} B`);

/** The sweeps' tables (Markdown), each with the per-thread CPU that says what limits it. */
export function sweepReport(rows: SweepRow[]): string[] {
  const lines: string[] = [];
  const table = (sweep: string, title: string, xName: string, xf: (x: number) => string, cols: [string, (f: Figures, r: SweepRow) => string][]): void => {
    const rs = rows.filter((r) => r.sweep === sweep);
    if (rs.length === 0) return;
    lines.push(`**${title}**`, '', `| ${xName} | series | ${cols.map(([c]) => c).join(' | ')} |`, `| ---: | --- | ${cols.map(() => '---:').join(' | ')} |`);
    for (const r of rs) {
      const f = r.figures ?? {};
      lines.push(`| ${xf(r.x)} | ${r.series} | ${cols.map(([, g]) => g(f, r)).join(' | ')}${r.error ? ` | failed: ${r.error}` : ''} |`);
    }
    lines.push('');
  };
  table('open', 'Sweep: open, memory and compaction against key count (100 B values)', 'keys', (x) => x.toLocaleString('en-US'), [
    ['load s', (f) => num(f.loadSeconds)],
    ['open + first get ms', (f) => num(f.openMs)],
    ['open: main / other thread CPU ms', (f) => (f.openMainCpuMs === undefined ? 'n/a' : `${num(f.openMainCpuMs)} / ${num(f.openOtherCpuMs)}`)],
    ['the same after a crash ms', (f) => num(f.scanOpenMs)],
    ['after a crash: main / engine thread CPU ms', (f) => (f.scanMainCpuMs === undefined ? 'n/a' : `${num(f.scanMainCpuMs)} / ${num(f.scanOtherCpuMs)}`)],
    ['index bytes per key', (f) => num(f.heapBytesPerKey)],
    ['compaction s', (f) => num(f.compactSeconds)],
    ['log MB before → after', (f) => (f.logBytesBefore === undefined ? 'n/a' : `${num(f.logBytesBefore / 1e6)} → ${num(f.logBytesAfter! / 1e6)}`)],
    ['compaction: main / engine thread CPU %', (f) => (f.compactMainCpuPct === undefined ? 'n/a' : `${num(f.compactMainCpuPct)} / ${num(f.compactOtherCpuPct)}`)],
  ]);
  table('w1size', 'Sweep: W1 durable puts against value size', 'value', bytesLabel, [
    ['ops/s', (f) => num(f.opsPerSec)], ['MB/s', (f) => num(f.mbPerSec)], ['ack p50 ms', (f) => num(f.p50Ms)], ['ack p99 ms', (f) => num(f.p99Ms)],
    ['main thread CPU %', (f) => num(f.mainCpuPct)], ['busiest other thread CPU %', (f) => num(f.otherCpuPct)], ['ops', (f) => num(f.ops)],
  ]);
  const none = (x: number): number | undefined => rows.find((r) => r.sweep === 'w3load' && r.store === 'none' && r.x === x)?.figures?.delayP99Ms;
  table('w3load', 'Sweep: W3 tick against offered load (half durable writes, half reads; 20 Hz, 1 ms of work per tick)', 'offered ops/s', (x) => x.toLocaleString('en-US'), [
    ['delay p99 ms', (f) => num(f.delayP99Ms)],
    ['÷ no store', (f, r) => { const b = none(r.x); return b && f.delayP99Ms !== undefined ? `${(f.delayP99Ms / b).toFixed(2)}×` : 'n/a'; }],
    ['delay max ms', (f) => num(f.delayMaxMs)], ['late ticks', (f) => num(f.lateTicks)], ['worst late ms', (f) => num(f.worstLateMs)],
    ['served %', (f) => (f.servedRatio === undefined ? 'n/a' : num(100 * f.servedRatio))],
    ['main thread CPU %', (f) => num(f.mainCpuPct)], ['busiest other thread CPU %', (f) => num(f.otherCpuPct)],
  ]);
  return lines;
}

/** The sweeps' line charts, as (file name suffix, SVG) pairs. */
export function sweepCharts(rows: SweepRow[]): [string, string][] {
  const out: [string, string][] = [];
  const series = (sweep: string, k: string, filter: (r: SweepRow) => boolean = () => true, name: (r: SweepRow) => string = (r) => r.series): Series[] => {
    const by = new Map<string, [number, number][]>();
    for (const r of rows) {
      if (r.sweep !== sweep || !filter(r) || r.figures?.[k] === undefined) continue;
      const n = name(r);
      by.set(n, [...(by.get(n) ?? []), [r.x, r.figures[k]!]]);
    }
    return [...by].map(([n, points]) => ({ name: n, points }));
  };
  if (rows.some((r) => r.sweep === 'open')) {
    out.push(['sweep-open-time', lineChart('Open + first get against key count', 'keys', 'ms', [
      ...series('open', 'openMs', () => true, (r) => (r.store === 'tickstore' ? 'tickstore (hint)' : r.store)),
      ...series('open', 'scanOpenMs', () => true, () => 'tickstore (after a crash)'),
    ], { logX: true, logY: true })]);
    out.push(['sweep-open-heap', lineChart('tickstore index: bytes per key', 'keys', 'bytes per key (heap + ArrayBuffers)', series('open', 'heapBytesPerKey'), { logX: true })]);
    out.push(['sweep-open-compact', lineChart('tickstore compaction of a half-dead log', 'keys', 'seconds', series('open', 'compactSeconds'), { logX: true, logY: true })]);
  }
  if (rows.some((r) => r.sweep === 'w1size')) {
    out.push(['sweep-w1size-mbps', lineChart('W1 durable puts: throughput against value size', 'value bytes', 'MB/s', series('w1size', 'mbPerSec'), { logX: true, logY: true, xFormat: bytesLabel })]);
    out.push(['sweep-w1size-p99', lineChart('W1 durable puts: ack p99 against value size', 'value bytes', 'ack p99 ms', series('w1size', 'p99Ms'), { logX: true, logY: true, xFormat: bytesLabel })]);
  }
  if (rows.some((r) => r.sweep === 'w3load')) {
    out.push(['sweep-w3load-p99', lineChart('W3: event-loop delay p99 against offered load', 'offered ops/s', 'delay p99 ms', series('w3load', 'delayP99Ms'), { logX: true, logY: true })]);
    out.push(['sweep-w3load-late', lineChart('W3: ticks late by > 5 ms against offered load', 'offered ops/s', 'late ticks', series('w3load', 'lateTicks'), { logX: true })]);
  }
  return out;
}
