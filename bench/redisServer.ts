/**
 * The bench's own redis-server (a small equivalent of test/support/redisServer.ts,
 * which needs mocha's types): a free loopback port on 127.0.0.1, its own
 * temporary directory, every write fsync'd to the append-only file
 * (`appendfsync always`), no RDB snapshots, stopped by its pid.
 *
 * Automatic AOF rewrites are off (`auto-aof-rewrite-percentage 0`): a rewrite
 * forks and rewrites in the middle of whichever case happens to cross the
 * size threshold. Instead `reset()` empties the server between cases
 * (FLUSHALL, then a rewrite of the now empty data set, so the AOF starts
 * small again) and zeroes its command statistics.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/freePort.js';

export interface BenchRedis {
  readonly port: number;
  readonly pid: number;
  readonly url: string;
  /** redis-cli against this server: its stdout (throws when redis-cli fails). */
  cli(...args: string[]): string;
  /** CPU time (user + system) the server process has used so far, in seconds (from /proc/<pid>/stat). */
  cpuSeconds(): number;
  /** The main thread's time on a CPU and waiting for one (runqueue), in seconds (/proc/<pid>/task/<pid>/schedstat). */
  schedSeconds(): { run: number; wait: number };
  /** FLUSHALL, rewrite the AOF, CONFIG RESETSTAT: every case starts from an empty server. */
  reset(): Promise<void>;
  /** One INFO section as name → value. */
  info(section: string): Map<string, string>;
  /** SIGTERM by pid, wait for the exit (SIGKILL after 5 s), remove the directory. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const clockTicks = ((): number => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** utime + stime of a process, in seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3 (state); utime is 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / clockTicks;
}

/** Why there is no Redis here, or undefined when redis-server and redis-cli both run. */
export function redisMissing(): string | undefined {
  const s = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  const c = spawnSync('redis-cli', ['--version'], { encoding: 'utf8' });
  if (s.status !== 0 || c.status !== 0) return 'redis-server/redis-cli not found on PATH (Debian: apt-get install redis-server)';
  return undefined;
}

/** Starts the server and waits for PING, or says why it could not. */
export async function startRedis(): Promise<BenchRedis | string> {
  const missing = redisMissing();
  if (missing) return missing;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const proc: ChildProcess = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--auto-aof-rewrite-percentage', '0',
    '--daemonize', 'no', '--loglevel', 'warning',
  ], { stdio: 'ignore' });
  let exited = false;
  const gone = new Promise<void>((resolve) => proc.once('exit', () => { exited = true; resolve(); }));
  const kill = (): void => { if (!exited) proc.kill('SIGKILL'); };
  process.once('exit', kill);
  const cli = (...args: string[]): string => {
    const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
    return r.stdout;
  };
  const info = (section: string): Map<string, string> => new Map(cli('info', section).split(/\r?\n/)
    .filter((l) => l.includes(':') && !l.startsWith('#'))
    .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)] as [string, string]));
  const stop = async (): Promise<void> => {
    if (!exited) {
      proc.kill('SIGTERM');
      const t = setTimeout(kill, 5000);
      await gone;
      clearTimeout(t);
    }
    process.off('exit', kill);
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 200; i++) {
    if (exited) break;
    const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'ping'], { encoding: 'utf8', timeout: 2000 });
    if (r.stdout?.trim() === 'PONG') {
      return {
        port, pid: proc.pid!, url: `redis://127.0.0.1:${port}`, cli, info, stop,
        cpuSeconds: () => processCpuSeconds(proc.pid!),
        schedSeconds: () => {
          const [run, wait] = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
          return { run: (run ?? 0) / 1e9, wait: (wait ?? 0) / 1e9 };
        },
        reset: async () => {
          cli('flushall');
          cli('bgrewriteaof');
          for (let j = 0; j < 600; j++) {
            const p = info('persistence');
            if (p.get('aof_rewrite_in_progress') === '0' && p.get('aof_rewrite_scheduled') === '0') break;
            await sleep(50);
          }
          cli('config', 'resetstat');
        },
      };
    }
    await sleep(50);
  }
  await stop();
  return `redis-server on port ${port} did not answer PING within 10 s${exited ? ' (it exited)' : ''}`;
}
