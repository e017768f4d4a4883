/**
 * The benchmark runner: `npm run bench [-- --size smoke|mid|full] [--only W1,W3] [--label NAME]
 * [--sweep open,w1size,w3load [--keys 100000,1000000]]`.
 *
 * `--sweep` runs the curves (bench/sweeps.md's part of docs/benchmarks.md)
 * instead of the cases (add `--only` to run cases too); they are not part of
 * CI's smoke run.
 *
 * Every (workload, store) case runs in its own fresh child process (bench/child.ts)
 * in its own temporary directory; Redis runs as a local redis-server started and
 * stopped here (bench/redisServer.ts), emptied before every case that uses it.
 * W9 runs 1, 2 and 4 such processes at once against that one server. Results go to bench/results/<label>.jsonl (one JSON line per
 * case), a Markdown table with the target ratios to bench/results/<label>.md,
 * and SVG charts to docs/bench/<label>-*.svg.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { barChart } from './chart.js';
import { runSweeps, sweepCharts, sweepReport, SWEEPS, type SweepRow } from './sweepRunner.js';
import { startRedis, type BenchRedis } from './redisServer.js';
import { SIZES, type Figures } from './workloads.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, def: string): string => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : def; };
const size = opt('size', 'full') as 'smoke' | 'mid' | 'full';
const only = opt('only', '').split(',').filter(Boolean);
const label = opt('label', `${size}-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-')}`);
const sizes = SIZES[size];
if (!sizes) throw new Error(`--size must be smoke, mid or full, got ${size}`);
const sweeps = opt('sweep', '').split(',').filter(Boolean);
for (const w of sweeps) if (!(SWEEPS as readonly string[]).includes(w)) throw new Error(`--sweep takes ${SWEEPS.join(',')}, got ${w}`);
const sweepKeys = opt('keys', size === 'smoke' ? '10000,30000' : '100000,1000000,10000000').split(',').map(Number);

/** The stores that live in the runner's redis-server: skipped, with the reason printed, when there is none. */
const REDIS_STORES = new Set(['redis', 'tickstore-redis', 'ioredis-set', 'ioredis-lua']);
/** tickstore's Redis engine and its raw peer (plain ioredis SET), on the same server in the same run. */
const REDIS_PAIR = ['tickstore-redis', 'ioredis-set'];
/** The same, with tickstore's script sent by bare ioredis in between (where the cost is: script or client). */
const REDIS_TRIO = ['tickstore-redis', 'ioredis-lua', 'ioredis-set'];
const PEERS = ['tickstore', 'lmdb', 'better-sqlite3', 'classic-level', 'redis', 'append+fdatasync', ...REDIS_TRIO];
/** The plain logs W1-64's target compares against (the best of them). */
const PLAIN_LOGS = ['append+fdatasync'];
const READERS = ['tickstore', 'lmdb', 'better-sqlite3', 'classic-level', 'redis'];
/** W9: this many processes share the one Redis. */
const SCALE_OUT = [1, 2, 4];

interface Case { id: string; stores: string[]; preload?: string; gc?: boolean; processes?: number }
const CASES: Case[] = [
  // overwrite+fdatasync: issue 15's single synchronous writer (W1-1 only: it has no group commit).
  { id: 'W1-1', stores: [...PEERS, 'overwrite+fdatasync'] },
  { id: 'W1-64', stores: PEERS },
  { id: 'W2-ticker', stores: READERS, preload: 'preload-W2' },
  { id: 'W2-promise', stores: ['tickstore'], preload: 'preload-W2' },
  // tickstore through a ticker (the plugin's path) and through promises, side by side.
  { id: 'W3', stores: ['none', 'tickstore', 'tickstore-promise', ...READERS.slice(1), ...REDIS_PAIR] },
  { id: 'W4', stores: ['tickstore', 'lmdb', 'better-sqlite3', 'classic-level'], preload: 'preload-W4' },
  { id: 'W4-scan', stores: ['tickstore'], preload: 'preload-W4' },
  { id: 'W5', stores: ['tickstore'] },
  { id: 'W6', stores: ['tickstore'], preload: 'preload-W6' },
  { id: 'W7', stores: ['tickstore'], gc: true },
  // Main-thread cost per op (bench/mainThread.ts).
  { id: 'MT', stores: ['tickstore'] },
  ...SCALE_OUT.map((n) => ({ id: `W9-${n}`, stores: REDIS_TRIO, processes: n })),
].filter((c) => (only.length === 0 && sweeps.length === 0) || only.some((o) => c.id.startsWith(o)));

/** One command's share of a case in the Redis server's INFO commandstats: calls, and server µs spent in it. */
type CommandStats = Record<string, { calls: number; usec: number }>;
/** `load1`: the machine's 1-minute load average when the case started (a shared machine: how busy it was with other work). */
interface Row { label: string; case: string; store: string; figures?: Figures; error?: string; redisCommands?: CommandStats; load1?: number }

function runChild(kase: string, store: string, dir: string, env: NodeJS.ProcessEnv, gc: boolean, param?: string): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(gc ? ['--expose-gc'] : []), '--import', 'tsx', join(ROOT, 'bench/child.ts'), kase, store, dir, JSON.stringify(sizes), ...(param === undefined ? [] : [param])],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = ''; let err = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)) as Figures);
      else reject(new Error(`${kase} ${store} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

/** The Redis server's INFO commandstats as command → calls and µs. */
function commandStats(redis: BenchRedis): CommandStats {
  const out: CommandStats = {};
  for (const [k, v] of redis.info('commandstats')) {
    const calls = /calls=(\d+)/.exec(v); const usec = /usec=(\d+)/.exec(v);
    if (calls && usec) out[k.replace(/^cmdstat_/, '')] = { calls: Number(calls[1]), usec: Number(usec[1]) };
  }
  return out;
}

/** Busy and total jiffies of all CPUs (/proc/stat), to tell whether the machine itself was saturated. */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/**
 * W9: `n` worker processes (child.ts W9-worker) write to the one Redis at
 * once. Each opens its store and says READY; then all are told to go at the
 * same moment and write for `sizes.w9Seconds`. The Redis server's CPU
 * (utime + stime from /proc/<pid>/stat) and the machine's are read at the
 * start and the end of that window.
 */
function runWorkers(kase: string, store: string, n: number, dir: string, env: NodeJS.ProcessEnv, redis: BenchRedis): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const children = Array.from({ length: n }, (_, w) => spawn(process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench/child.ts'), 'W9-worker', store, dir, JSON.stringify(sizes), String(w)],
      { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] }));
    const outs = children.map(() => ''); const errs = children.map(() => '');
    let ready = 0; let failed = false;
    let window: { cpu: number; run: number; wait: number; machine: number; machineCores: number; seconds: number } | undefined;
    const fail = (why: string): void => {
      if (failed) return;
      failed = true;
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      reject(new Error(`${kase} ${store}: ${why}`));
    };
    const go = (): void => {
      const cpu0 = redis.cpuSeconds(); const s0 = redis.schedSeconds(); const m0 = machineJiffies(); const t0 = performance.now();
      for (const c of children) c.stdin!.write('GO\n');
      setTimeout(() => {
        const m1 = machineJiffies(); const s1 = redis.schedSeconds();
        window = {
          cpu: redis.cpuSeconds() - cpu0, run: s1.run - s0.run, wait: s1.wait - s0.wait,
          machine: (m1.busy - m0.busy) / (m1.total - m0.total), machineCores: cpus().length, seconds: (performance.now() - t0) / 1000,
        };
      }, sizes.w9Seconds * 1000);
    };
    let exited = 0;
    children.forEach((child, w) => {
      child.stdout!.on('data', (d: Buffer) => {
        const before = outs[w]!;
        outs[w] += d.toString();
        if (!before.includes('READY\n') && outs[w]!.includes('READY\n') && ++ready === n) go();
      });
      child.stderr!.on('data', (d: Buffer) => { errs[w] += d.toString(); });
      child.on('exit', (code) => {
        if (code !== 0) { fail(`worker ${w} exited ${code}: ${errs[w]!.trim().split('\n').slice(-3).join(' | ')}`); return; }
        if (++exited < n || failed) return;
        const results = outs.map((o) => JSON.parse(o.split('\n').find((l) => l.startsWith('RESULT '))!.slice(7)) as Figures);
        if (!window) { fail('the workers finished before the measuring window closed'); return; }
        const acked = results.reduce((a, r) => a + r.acked!, 0);
        const perSec = results.reduce((a, r) => a + r.opsPerSec!, 0);
        resolve({
          processes: n,
          writesPerSec: perSec,
          perProcessPerSec: perSec / n,
          p50Ms: Math.max(...results.map((r) => r.p50Ms!)),
          p99Ms: Math.max(...results.map((r) => r.p99Ms!)),
          // Each worker's CPU (from its GO until its last ack was in) per write it had acknowledged in the window.
          clientCpuUsPerWrite: results.reduce((a, r) => a + r.cpuUs!, 0) / acked,
          redisCpuPct: (100 * window.cpu) / window.seconds,
          redisCpuUsPerWrite: (1e6 * window.cpu) / acked,
          // Redis' main thread: the share of the window it ran, and the share it was ready but waited for a core.
          redisMainOnCpuPct: (100 * window.run) / window.seconds,
          redisMainRunqueuePct: (100 * window.wait) / window.seconds,
          machineCpuPct: 100 * window.machine * window.machineCores,
        });
      });
    });
  });
}

/** `--report-only`: the tables and charts of an earlier run, from its JSON lines (no case is run). */
function reportOnly(): void {
  const all = (readFileSync(join(ROOT, 'bench/results', `${label}.jsonl`), 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as Row | SweepRow));
  const rows = all.filter((r): r is Row => !isSweep(r));
  sweepRows.push(...all.filter(isSweep));
  const md = report(rows);
  writeFileSync(join(ROOT, 'bench/results', `${label}.md`), md);
  console.log(md);
  charts(rows);
}

/** A sweep's rows are in the same JSON lines as the cases', told apart by their `sweep` field. */
const isSweep = (r: Row | SweepRow): r is SweepRow => 'sweep' in r;

async function main(): Promise<void> {
  if (args.includes('--report-only')) { reportOnly(); return; }
  const needsRedis = CASES.filter((c) => c.stores.some((st) => REDIS_STORES.has(st)));
  const redis = needsRedis.length > 0 || sweeps.includes('w3load') ? await startRedis() : undefined;
  if (typeof redis === 'string') {
    redisSkipped = redis;
    console.log(`redis: skipped — ${redis}; not run: ${needsRedis.map((c) => `${c.id} (${c.stores.filter((st) => REDIS_STORES.has(st)).join(', ')})`).join('; ')}`);
  }
  const env = { ...process.env, ...(typeof redis === 'object' ? { REDIS_PORT: String(redis.port) } : {}) };
  const rows: Row[] = [];
  const resultsDir = join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const jsonl = join(resultsDir, `${label}.jsonl`);
  writeFileSync(jsonl, '');
  try {
    for (const c of CASES) {
      for (const store of c.stores) {
        const onRedis = REDIS_STORES.has(store);
        if (onRedis && typeof redis !== 'object') continue;
        const dir = mkdtempSync(join(tmpdir(), `bench-${c.id}-`));
        let redisCommands: CommandStats | undefined;
        const load1 = loadavg()[0]!;
        try {
          if (onRedis) await (redis as BenchRedis).reset();
          if (c.preload) await runChild(c.preload, store, dir, env, false);
          let figures: Figures;
          if (c.processes !== undefined) {
            figures = await runWorkers(c.id, store, c.processes, dir, env, redis as BenchRedis);
          } else if (onRedis && c.id.startsWith('W1')) {
            // Server-side cost per acknowledged write: CPU from /proc, command time and AOF bytes from INFO.
            const r = redis as BenchRedis;
            const aof0 = Number(r.info('persistence').get('aof_current_size') ?? 0);
            const cpu0 = r.cpuSeconds();
            figures = await runChild(c.id, store, dir, env, false);
            const cpu1 = r.cpuSeconds();
            const ops = figures.ops ?? 0;
            redisCommands = commandStats(r);
            const top = Object.entries(redisCommands).filter(([k]) => k === 'evalsha' || k === 'set')
              .reduce((a, [, v]) => a + v.usec, 0);
            figures = {
              ...figures,
              // The whole child's life (connect, load scripts, subscribe, close) is in it: its writes dominate.
              redisCpuUsPerWrite: (1e6 * (cpu1 - cpu0)) / ops,
              redisCmdUsPerWrite: top / ops,
              aofBytesPerWrite: (Number(r.info('persistence').get('aof_current_size') ?? 0) - aof0) / ops,
            };
          } else {
            figures = await runChild(c.id, store, dir, env, c.gc === true);
          }
          rows.push({ label, case: c.id, store, figures, ...(redisCommands ? { redisCommands } : {}), load1 });
          console.log(`${c.id.padEnd(11)} ${store.padEnd(17)} ${fmt(figures)}`);
        } catch (e) {
          rows.push({ label, case: c.id, store, error: (e as Error).message });
          console.log(`${c.id.padEnd(11)} ${store.padEnd(17)} FAILED ${(e as Error).message}`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
        writeFileSync(jsonl, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      }
    }
    if (sweeps.length > 0) {
      await runSweeps({
        sweeps, keys: sweepKeys, smoke: size === 'smoke', label,
        redis: typeof redis === 'object' ? redis : undefined,
        run: (kase, store, dir, gc, param) => runChild(kase, store, dir, env, gc, param),
        record: (r) => {
          sweepRows.push(r);
          writeFileSync(jsonl, [...rows, ...sweepRows].map((x) => JSON.stringify(x)).join('\n') + '\n');
          console.log(`${r.sweep.padEnd(7)} ${r.series.padEnd(24)} x=${String(r.x).padEnd(9)} ${r.error ? `FAILED ${r.error}` : fmt(r.figures ?? {})}`);
        },
      });
    }
  } finally {
    if (typeof redis === 'object') await redis.stop();
  }
  const md = report(rows);
  writeFileSync(join(resultsDir, `${label}.md`), md);
  console.log(`\n${md}`);
  charts(rows);
  if (rows.some((r) => r.error) || sweepRows.some((r) => r.error)) process.exitCode = 1;
}

/** The sweep points of this run (or of the run `--report-only` renders). */
const sweepRows: SweepRow[] = [];

/** Why the Redis cases did not run in this run (no redis-server), for the report. */
let redisSkipped: string | undefined;

function fmt(f: Figures): string {
  return Object.entries(f).map(([k, v]) => `${k}=${v >= 100 ? Math.round(v) : Number(v.toPrecision(3))}`).join(' ');
}

const fig = (rows: Row[], kase: string, store: string, k: string): number | undefined => rows.find((r) => r.case === kase && r.store === store)?.figures?.[k];
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}×`);

/** The Markdown report: machine facts, one table per workload, then each target with its measured ratio. */
function report(rows: Row[]): string {
  const lines: string[] = [];
  lines.push(`### Run \`${label}\` (${size} sizes)`, '');
  lines.push(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}; sizes ${JSON.stringify(sizes)}.`, '');
  const loads = rows.map((r) => r.load1).filter((v): v is number => v !== undefined);
  if (loads.length > 0) lines.push(`1-minute load average when the cases started: ${Math.min(...loads).toFixed(1)} – ${Math.max(...loads).toFixed(1)} (${cpus().length} cores; above ~1 other work shared the machine).`, '');
  for (const c of CASES) {
    const rs = rows.filter((r) => r.case === c.id);
    if (rs.length === 0) continue; // every store of it skipped (no redis-server)
    const keys = [...new Set(rs.flatMap((r) => Object.keys(r.figures ?? {})))];
    lines.push(`**${c.id}**`, '', `| store | ${keys.join(' | ')} |`, `| --- | ${keys.map(() => '---:').join(' | ')} |`);
    for (const r of rs) lines.push(`| ${r.store} | ${r.error ? `failed: ${r.error}` : keys.map((k) => num(r.figures?.[k])).join(' | ')} |`);
    lines.push('');
  }
  if (rows.length > 0) lines.push(...targets(rows));
  lines.push(...redisReport(rows));
  lines.push(...sweepReport(sweepRows));
  return lines.join('\n');
}

/** One target: what, the measured figure (a ratio, mostly), the goal, and whether it is met (undefined: not measured in this run). */
interface Target { what: string; measured: string; goal: string; met: boolean | undefined }

/**
 * Issue 15's targets, and issue 14's that were met (kept), each judged on
 * this run's figures alone. A target not met never fails the run (CI's smoke
 * run measures nothing real); it prints `not met` with its ratio.
 */
function targetList(rows: Row[]): Target[] {
  const f = (kase: string, store: string, k: string): number | undefined => fig(rows, kase, store, k);
  const div = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
  const x = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(2)}×`);
  const all = (...c: (boolean | undefined)[]): boolean | undefined => (c.some((v) => v === undefined) ? undefined : c.every(Boolean));
  const le = (v: number | undefined, goal: number): boolean | undefined => (v === undefined ? undefined : v <= goal);
  const ge = (v: number | undefined, goal: number): boolean | undefined => (v === undefined ? undefined : v >= goal);
  const out: Target[] = [];
  const lmdbW3 = div(f('W3', 'lmdb', 'delayP99Ms'), f('W3', 'none', 'delayP99Ms'));
  for (const [st, path] of [['tickstore', 'ticker'], ['tickstore-promise', 'promises']] as const) {
    const r = div(f('W3', st, 'delayP99Ms'), f('W3', 'none', 'delayP99Ms'));
    const late = f('W3', st, 'lateTicks'); const served = f('W3', st, 'servedRatio');
    out.push({
      what: `W3 through ${path}: delay p99 ÷ no store (≤ 1.05× and below lmdb's ${x(lmdbW3)}), late ticks, served`,
      measured: `${x(r)}, ${num(late)} late, ${served === undefined ? 'n/a' : `${(100 * served).toFixed(1)}%`} served`,
      goal: '≤ 1.05×, < lmdb, 0, 100%',
      met: all(le(r, 1.05), r === undefined || lmdbW3 === undefined ? undefined : r < lmdbW3, le(late, 0), ge(served, 0.999)),
    });
  }
  const w11 = div(f('W1-1', 'tickstore', 'opsPerSec'), f('W1-1', 'overwrite+fdatasync', 'opsPerSec'));
  out.push({ what: 'W1 1 outstanding ÷ a single synchronous overwrite+fdatasync writer', measured: x(w11), goal: '≥ 0.9×', met: ge(w11, 0.9) });
  const logs = PLAIN_LOGS.map((l) => f('W1-64', l, 'opsPerSec')).filter((v): v is number => v !== undefined);
  const best = logs.length > 0 ? Math.max(...logs) : undefined;
  const w164 = div(f('W1-64', 'tickstore', 'opsPerSec'), best);
  out.push({ what: `W1 64 outstanding ÷ the best plain group-commit log (${PLAIN_LOGS.join(', ')})`, measured: x(w164), goal: '≥ 1.0×', met: ge(w164, 1.0) });
  out.push({ what: 'W1 64 outstanding ÷ append+fdatasync group commit (issue 14, kept)', measured: x(w164), goal: '≥ 0.85×', met: ge(w164, 0.85) });
  for (const kase of ['W2-ticker', 'W2-promise']) {
    const r = div(f(kase, 'tickstore', 'getsPerSec'), f('W2-ticker', 'lmdb', 'getsPerSec'));
    out.push({ what: `${kase}: tickstore random gets ÷ lmdb's synchronous gets`, measured: x(r), goal: '≥ 1.0×', met: ge(r, 1.0) });
  }
  // The peer issue 15 measured "now ~0.25×" against: lru-cache's get on W5's skewed pattern (lruGetsPerSec). Beside it, for
  // reference, a loop of bare gets on the same 512 hot keys (every one a hit, the best case for lru-cache's JIT and caches).
  const w5 = div(f('W5', 'tickstore', 'hitGetsPerSec'), f('W5', 'tickstore', 'lruGetsPerSec'));
  const w5hot = div(f('W5', 'tickstore', 'hitGetsPerSec'), f('W5', 'tickstore', 'lruHitGetsPerSec'));
  out.push({ what: 'W5 memcache hits through a ticker ÷ a bare lru-cache get on the same pattern, same process (in brackets: ÷ a loop of lru-cache hits on the same 512 keys)', measured: `${x(w5)} (${x(w5hot)})`, goal: '≥ 0.6×', met: ge(w5, 0.6) });
  const w4 = f('W4', 'tickstore', 'openAndFirstGetMs');
  const w4r = div(w4, f('W4', 'lmdb', 'openAndFirstGetMs'));
  out.push({ what: 'W4 open + first get ÷ lmdb\'s', measured: `${x(w4r)} (${num(w4)} ms)`, goal: '≤ 10×', met: le(w4r, 10) });
  out.push({ what: 'W4 open + first get (issue 14, kept)', measured: `${num(w4)} ms`, goal: `≤ 200 ms at 1M keys`, met: le(w4, 200) });
  const scan = f('W4-scan', 'tickstore', 'openAndFirstGetMs');
  out.push({ what: 'W4 open + first get after a crash (no hint: full scan)', measured: `${num(scan)} ms`, goal: '≤ 500 ms', met: le(scan, 500) });
  const w6late = f('W6', 'tickstore', 'lateTicks'); const w6age = f('W6', 'tickstore', 'maxResultAgeTicks');
  out.push({ what: 'W6 during compaction: ticks late > 5 ms, maxResultAgeTicks', measured: `${num(w6late)}, ${num(w6age)}`, goal: '0, ≤ 2', met: all(le(w6late, 0), le(w6age, 2)) });
  const w3late = f('W3', 'tickstore', 'lateTicks');
  out.push({ what: 'W3 late ticks (> 5 ms), ticker (issue 14, kept)', measured: num(w3late), goal: '0', met: le(w3late, 0) });
  const w7 = f('W7', 'tickstore', 'beyondKeyBytes');
  out.push({ what: 'W7 bytes per key beyond key bytes (heap + ArrayBuffers) (issue 14, kept)', measured: num(w7), goal: '≤ 64', met: le(w7, 64) });
  return out;
}

/** The targets as a Markdown table (the runner prints it too). */
function targets(rows: Row[]): string[] {
  const v = (m: boolean | undefined): string => (m === undefined ? 'not run' : m ? 'met' : '**not met**');
  return ['**Targets** (ratios within this run)', '', '| target | measured | goal | verdict |', '| --- | ---: | ---: | --- |',
    ...targetList(rows).map((t) => `| ${t.what} | ${t.measured} | ${t.goal} | ${v(t.met)} |`), ''];
}

/**
 * The Redis primary: tickstore's Redis engine against plain ioredis SETs on
 * the same server in the same run, the server's time per write, and W9's
 * scale-out. Empty when no Redis case ran (with the reason when Redis was missing).
 */
function redisReport(rows: Row[]): string[] {
  const lines: string[] = [];
  if (redisSkipped) return ['**Redis primary**: not run — ' + redisSkipped, ''];
  const has = rows.some((r) => r.store === 'tickstore-redis');
  if (!has) return lines;
  const T = 'tickstore-redis'; const S = 'ioredis-set';
  const r1 = (kase: string, k: string): string => ratio(fig(rows, kase, T, k), fig(rows, kase, S, k));
  lines.push('**Redis primary** (tickstore-redis ÷ ioredis-set, same server, same run)', '', '| measure | ratio |', '| --- | ---: |');
  lines.push(`| W1 1 outstanding: acknowledged writes/s | ${r1('W1-1', 'opsPerSec')} |`);
  lines.push(`| W1 1 outstanding: ack latency p50 | ${r1('W1-1', 'p50Ms')} |`);
  lines.push(`| W1 64 outstanding: acknowledged writes/s | ${r1('W1-64', 'opsPerSec')} |`);
  lines.push(`| W1 64 outstanding: ack latency p99 | ${r1('W1-64', 'p99Ms')} |`);
  lines.push(`| W1 64 outstanding: Redis server CPU per write | ${r1('W1-64', 'redisCpuUsPerWrite')} |`);
  lines.push(`| W1 64 outstanding: client process CPU per write | ${r1('W1-64', 'cpuUsPerWrite')} |`);
  lines.push(`| W1 64 outstanding: AOF bytes per write | ${r1('W1-64', 'aofBytesPerWrite')} |`);
  const L = 'ioredis-lua';
  const rl = (kase: string, k: string, a: string, b: string): string => ratio(fig(rows, kase, a, k), fig(rows, kase, b, k));
  lines.push(`| W1 64 outstanding: writes/s, tickstore-redis ÷ ioredis-lua (tickstore's client side) | ${rl('W1-64', 'opsPerSec', T, L)} |`);
  lines.push(`| W1 64 outstanding: writes/s, ioredis-lua ÷ ioredis-set (the script and its message instead of SET) | ${rl('W1-64', 'opsPerSec', L, S)} |`);
  lines.push(`| W1 1 outstanding: writes/s, tickstore-redis ÷ ioredis-lua | ${rl('W1-1', 'opsPerSec', T, L)} |`);
  lines.push(`| W1 1 outstanding: writes/s, ioredis-lua ÷ ioredis-set | ${rl('W1-1', 'opsPerSec', L, S)} |`);
  lines.push(`| W3 event-loop delay p99 | ${r1('W3', 'delayP99Ms')} |`);
  lines.push(`| W3 event-loop delay p99, each ÷ no store | ${ratio(fig(rows, 'W3', T, 'delayP99Ms'), fig(rows, 'W3', 'none', 'delayP99Ms'))} / ${ratio(fig(rows, 'W3', S, 'delayP99Ms'), fig(rows, 'W3', 'none', 'delayP99Ms'))} |`);
  lines.push(`| W3 late ticks (> 5 ms), each | ${num(fig(rows, 'W3', T, 'lateTicks'))} / ${num(fig(rows, 'W3', S, 'lateTicks'))} |`);
  for (const n of SCALE_OUT) lines.push(`| W9 ${n} process${n > 1 ? 'es' : ''}: aggregate acknowledged writes/s | ${r1(`W9-${n}`, 'writesPerSec')} |`);
  lines.push('');
  lines.push('**W9 scale-out** (processes sharing one Redis; ratios against the same store with 1 process)', '',
    '| store | processes | writes/s | ÷ 1 process | per process | Redis CPU (% of one core) | Redis main thread waiting for a core (%) | Redis CPU µs per write | client CPU µs per write | machine CPU (% of one core) | p99 ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const st of REDIS_TRIO) {
    for (const n of SCALE_OUT) {
      const k = `W9-${n}`;
      const row = rows.find((r) => r.case === k && r.store === st);
      if (!row) continue;
      if (row.error) { lines.push(`| ${st} | ${n} | failed: ${row.error} |||||||||`); continue; }
      lines.push(`| ${st} | ${n} | ${num(fig(rows, k, st, 'writesPerSec'))} | ${ratio(fig(rows, k, st, 'writesPerSec'), fig(rows, 'W9-1', st, 'writesPerSec'))} | ${num(fig(rows, k, st, 'perProcessPerSec'))} | ${num(fig(rows, k, st, 'redisCpuPct'))} | ${num(fig(rows, k, st, 'redisMainRunqueuePct'))} | ${num(fig(rows, k, st, 'redisCpuUsPerWrite'))} | ${num(fig(rows, k, st, 'clientCpuUsPerWrite'))} | ${num(fig(rows, k, st, 'machineCpuPct'))} | ${num(fig(rows, k, st, 'p99Ms'))} |`);
    }
  }
  lines.push('');
  // Where the server's time goes: INFO commandstats of W1-64 (a script's inner commands are counted too, and inside its own time).
  const cmds = (st: string): CommandStats | undefined => rows.find((r) => r.case === 'W1-64' && r.store === st)?.redisCommands;
  const ct = cmds(T); const cs = cmds(S); const cl = cmds(L) ?? {};
  const ops = fig(rows, 'W1-64', T, 'ops');
  if (ct && cs && ops) {
    lines.push('**Redis server time per write in W1-64** (INFO commandstats, µs per acknowledged write; a script\'s commands run inside its EVALSHA time)', '',
      '| command | tickstore-redis | ioredis-lua | ioredis-set |', '| --- | ---: | ---: | ---: |');
    const names = [...new Set([...Object.keys(ct), ...Object.keys(cl), ...Object.keys(cs)])]
      .filter((k) => !['script', 'subscribe', 'ping', 'info', 'config', 'quit', 'client', 'select', 'hello', 'command'].includes(k.split('|')[0]!))
      .sort((a, b) => (ct[b]?.usec ?? cs[b]?.usec ?? 0) - (ct[a]?.usec ?? cs[a]?.usec ?? 0));
    const per = (c: CommandStats, k: string, n: number): string => (c[k] ? `${(c[k]!.usec / n).toFixed(2)} (${(c[k]!.calls / n).toFixed(2)} calls)` : '—');
    const opsS = fig(rows, 'W1-64', S, 'ops') ?? ops;
    const opsL = fig(rows, 'W1-64', L, 'ops') ?? ops;
    for (const k of names) lines.push(`| ${k.toUpperCase()} | ${per(ct, k, ops)} | ${per(cl, k, opsL)} | ${per(cs, k, opsS)} |`);
    lines.push('');
  }
  return lines;
}

function num(v: number | undefined): string {
  if (v === undefined) return 'n/a';
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : Number(v.toPrecision(3)).toString();
}

function charts(rows: Row[]): void {
  const out = join(ROOT, 'docs/bench');
  mkdirSync(out, { recursive: true });
  for (const [name, svg] of sweepCharts(sweepRows)) writeFileSync(join(out, `${label}-${name}.svg`), svg);
  const spec: [string, string, string][] = [
    ['W1-1', 'opsPerSec', 'W1: durable 2 KiB puts/s, 1 outstanding'],
    ['W1-64', 'opsPerSec', 'W1: durable 2 KiB puts/s, 64 outstanding'],
    ['W2-ticker', 'getsPerSec', 'W2: random 1 KiB gets/s after reopen'],
    ['W3', 'delayP99Ms', 'W3: event-loop delay p99 (ms) under 3k writes/s + 3k reads/s'],
    ['W4', 'openAndFirstGetMs', 'W4: open 1M keys + first get (ms), fresh process'],
  ];
  const w9 = rows.filter((r) => r.case.startsWith('W9-') && r.figures?.writesPerSec !== undefined)
    .map((r) => ({ name: `${r.store} ×${r.figures!.processes}`, value: r.figures!.writesPerSec! }));
  if (w9.length > 0) writeFileSync(join(out, `${label}-W9.svg`), barChart('W9: acknowledged 2 KiB writes/s, 1/2/4 processes on one Redis', w9));
  for (const [kase, k, title] of spec) {
    const bars = rows.filter((r) => r.case === kase && r.figures?.[k] !== undefined).map((r) => ({ name: r.store, value: r.figures![k]! }));
    if (bars.length > 0) writeFileSync(join(out, `${label}-${kase}.svg`), barChart(title, bars));
  }
}

await main();
