/**
 * The benchmark runner: `npm run bench [-- --size smoke|full] [--only W1,W3] [--label NAME]`.
 *
 * Every (workload, store) case runs in its own fresh child process (bench/child.ts)
 * in its own temporary directory; Redis runs as a local redis-server started and
 * stopped here. Results go to bench/results/<label>.jsonl (one JSON line per
 * case), a Markdown table with the target ratios to bench/results/<label>.md,
 * and SVG charts to docs/bench/<label>-*.svg.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { barChart } from './chart.js';
import { SIZES, type Figures } from './workloads.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, def: string): string => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : def; };
const size = opt('size', 'full') as 'smoke' | 'full';
const only = opt('only', '').split(',').filter(Boolean);
const label = opt('label', `${size}-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-')}`);
const sizes = SIZES[size];
if (!sizes) throw new Error(`--size must be smoke or full, got ${size}`);

const PEERS = ['tickstore', 'lmdb', 'better-sqlite3', 'classic-level', 'redis', 'append+fdatasync'];
const READERS = ['tickstore', 'lmdb', 'better-sqlite3', 'classic-level', 'redis'];

interface Case { id: string; stores: string[]; preload?: string; gc?: boolean }
const CASES: Case[] = [
  { id: 'W1-1', stores: PEERS },
  { id: 'W1-64', stores: PEERS },
  { id: 'W2-ticker', stores: READERS, preload: 'preload-W2' },
  { id: 'W2-promise', stores: ['tickstore'], preload: 'preload-W2' },
  { id: 'W3', stores: ['none', ...READERS] },
  { id: 'W4', stores: ['tickstore', 'lmdb', 'better-sqlite3', 'classic-level'], preload: 'preload-W4' },
  { id: 'W4-scan', stores: ['tickstore'], preload: 'preload-W4' },
  { id: 'W5', stores: ['tickstore'] },
  { id: 'W6', stores: ['tickstore'], preload: 'preload-W6' },
  { id: 'W7', stores: ['tickstore'], gc: true },
].filter((c) => only.length === 0 || only.some((o) => c.id.startsWith(o)));

interface Row { label: string; case: string; store: string; figures?: Figures; error?: string }

/** A local redis-server with every write fsync'd to its append-only file, or why there is none. */
async function startRedis(): Promise<{ port: number; stop: () => void } | string> {
  if (spawnSync('which', ['redis-server']).status !== 0) return 'redis-server is not installed (Debian: apt-get install redis-server)';
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const port = 16379 + Math.floor(Math.random() * 1000);
  const proc: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes',
    '--appendfsync', 'always', '--save', '', '--daemonize', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG') {
      return { port, stop: () => { proc.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); } };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill('SIGKILL');
  return 'redis-server did not answer within 10 s';
}

function runChild(kase: string, store: string, dir: string, env: NodeJS.ProcessEnv, gc: boolean): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(gc ? ['--expose-gc'] : []), '--import', 'tsx', join(ROOT, 'bench/child.ts'), kase, store, dir, JSON.stringify(sizes)],
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

function flushRedis(port: number): void { spawnSync('redis-cli', ['-p', String(port), 'flushall']); }

/** `--report-only`: the tables and charts of an earlier run, from its JSON lines (no case is run). */
function reportOnly(): void {
  const rows = (readFileSync(join(ROOT, 'bench/results', `${label}.jsonl`), 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as Row));
  const md = report(rows);
  writeFileSync(join(ROOT, 'bench/results', `${label}.md`), md);
  console.log(md);
  charts(rows);
}

async function main(): Promise<void> {
  if (args.includes('--report-only')) { reportOnly(); return; }
  const redis = CASES.some((c) => c.stores.includes('redis')) ? await startRedis() : 'not needed';
  if (typeof redis === 'string' && redis !== 'not needed') console.log(`redis: skipped — ${redis}`);
  const env = { ...process.env, ...(typeof redis === 'object' ? { REDIS_PORT: String(redis.port) } : {}) };
  const rows: Row[] = [];
  const resultsDir = join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const jsonl = join(resultsDir, `${label}.jsonl`);
  writeFileSync(jsonl, '');
  try {
    for (const c of CASES) {
      for (const store of c.stores) {
        if (store === 'redis' && typeof redis === 'string') continue;
        const dir = mkdtempSync(join(tmpdir(), `bench-${c.id}-`));
        try {
          if (store === 'redis' && typeof redis === 'object') flushRedis(redis.port);
          if (c.preload) await runChild(c.preload, store, dir, env, false);
          const figures = await runChild(c.id, store, dir, env, c.gc === true);
          rows.push({ label, case: c.id, store, figures });
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
  } finally {
    if (typeof redis === 'object') redis.stop();
  }
  const md = report(rows);
  writeFileSync(join(resultsDir, `${label}.md`), md);
  console.log(`\n${md}`);
  charts(rows);
  if (rows.some((r) => r.error)) process.exitCode = 1;
}

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
  for (const c of CASES) {
    const rs = rows.filter((r) => r.case === c.id);
    const keys = [...new Set(rs.flatMap((r) => Object.keys(r.figures ?? {})))];
    lines.push(`**${c.id}**`, '', `| store | ${keys.join(' | ')} |`, `| --- | ${keys.map(() => '---:').join(' | ')} |`);
    for (const r of rs) lines.push(`| ${r.store} | ${r.error ? `failed: ${r.error}` : keys.map((k) => num(r.figures?.[k])).join(' | ')} |`);
    lines.push('');
  }
  const t = (what: string, got: string, target: string): string => `| ${what} | ${got} | ${target} |`;
  lines.push('**Targets** (ratios within this run)', '', '| target | measured | goal |', '| --- | ---: | ---: |');
  lines.push(t('W1 64 outstanding vs lmdb', ratio(fig(rows, 'W1-64', 'tickstore', 'opsPerSec'), fig(rows, 'W1-64', 'lmdb', 'opsPerSec')), '≥ 2.5×'));
  lines.push(t('W1 64 outstanding vs append+fdatasync group commit', ratio(fig(rows, 'W1-64', 'tickstore', 'opsPerSec'), fig(rows, 'W1-64', 'append+fdatasync', 'opsPerSec')), '≥ 0.85×'));
  lines.push(t('W1 1 outstanding vs a single append+fdatasync writer', ratio(fig(rows, 'W1-1', 'tickstore', 'opsPerSec'), fig(rows, 'W1-1', 'append+fdatasync', 'opsPerSec')), '≥ 0.9×'));
  lines.push(t('W3 event-loop delay p99 vs no store', ratio(fig(rows, 'W3', 'tickstore', 'delayP99Ms'), fig(rows, 'W3', 'none', 'delayP99Ms')), '≤ 1.05×'));
  lines.push(t('W3 late ticks (> 5 ms)', num(fig(rows, 'W3', 'tickstore', 'lateTicks')), '0'));
  lines.push(t('W3 writes served / offered', ratio(fig(rows, 'W3', 'tickstore', 'writesPerSec'), fig(rows, 'W3', 'tickstore', 'offeredPerSec')), '1.00×'));
  lines.push(t('W2 tick-driven gets vs lmdb sync gets', ratio(fig(rows, 'W2-ticker', 'tickstore', 'getsPerSec'), fig(rows, 'W2-ticker', 'lmdb', 'getsPerSec')), '≥ 1.0×'));
  lines.push(t('W5 memcache hits/s (ticker)', num(fig(rows, 'W5', 'tickstore', 'hitGetsPerSec')), '≥ 5,000,000'));
  lines.push(t('W4 open + first get', `${num(fig(rows, 'W4', 'tickstore', 'openAndFirstGetMs'))} ms`, `≤ 200 ms at 1M keys`));
  lines.push(t('W4 open + first get without the hint (after a crash: full scan)', `${num(fig(rows, 'W4-scan', 'tickstore', 'openAndFirstGetMs'))} ms`, '—'));
  lines.push(t('W6 late ticks during compaction', num(fig(rows, 'W6', 'tickstore', 'lateTicks')), '0'));
  lines.push(t('W7 bytes per key beyond key bytes (heap + ArrayBuffers)', num(fig(rows, 'W7', 'tickstore', 'beyondKeyBytes')), '≤ 64'));
  lines.push(t('W7 the same, index built by a full scan', num(fig(rows, 'W7', 'tickstore', 'beyondKeyBytesScanned')), '—'));
  lines.push('');
  return lines.join('\n');
}

function num(v: number | undefined): string {
  if (v === undefined) return 'n/a';
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : Number(v.toPrecision(3)).toString();
}

function charts(rows: Row[]): void {
  const out = join(ROOT, 'docs/bench');
  mkdirSync(out, { recursive: true });
  const spec: [string, string, string][] = [
    ['W1-1', 'opsPerSec', 'W1: durable 2 KiB puts/s, 1 outstanding'],
    ['W1-64', 'opsPerSec', 'W1: durable 2 KiB puts/s, 64 outstanding'],
    ['W2-ticker', 'getsPerSec', 'W2: random 1 KiB gets/s after reopen'],
    ['W3', 'delayP99Ms', 'W3: event-loop delay p99 (ms) under 3k writes/s + 3k reads/s'],
    ['W4', 'openAndFirstGetMs', 'W4: open 1M keys + first get (ms), fresh process'],
  ];
  for (const [kase, k, title] of spec) {
    const bars = rows.filter((r) => r.case === kase && r.figures?.[k] !== undefined).map((r) => ({ name: r.store, value: r.figures![k]! }));
    if (bars.length > 0) writeFileSync(join(out, `${label}-${kase}.svg`), barChart(title, bars));
  }
}

await main();
