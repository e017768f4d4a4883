import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { freePort } from './freePort.js';
import { join } from 'node:path';

/*
 * Real redis-server processes for the Redis engine's tests, on loopback
 * only: standalone (AOF with appendfsync always, so an acknowledged write
 * survives kill -9), a replica, and a 3-master cluster. Every process started
 * is stopped by its pid (tests call stop() in `after`; an exit hook kills
 * any left behind).
 */

const started = new Set<ChildProcess>();
process.on('exit', () => { for (const p of started) p.kill('SIGKILL'); });

let available: boolean | undefined;

/** Whether redis-server (and redis-cli) can run here. */
export function redisAvailable(): boolean {
  if (available === undefined) {
    const s = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    const c = spawnSync('redis-cli', ['--version'], { encoding: 'utf8' });
    available = s.status === 0 && c.status === 0;
  }
  return available;
}

/**
 * For a suite's `before`: skips the suite with a printed reason when
 * redis-server is missing — except in CI (`CI` set), where a missing server
 * fails the run rather than hide the suite.
 */
export function requireRedis(ctx: Mocha.Context): void {
  if (redisAvailable()) return;
  const why = 'redis-server/redis-cli not found on PATH';
  if (process.env.CI) throw new Error(`${why}: the Redis engine tests must run in CI`);
  console.log(`      skipping: ${why}`);
  ctx.skip();
}

export { freePort };

/** Sends one inline command and returns the first reply line (e.g. `+PONG`); rejects on a connection error. */
export function rawCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const t = setTimeout(() => { sock.destroy(); reject(new Error('timeout')); }, timeoutMs);
    sock.on('connect', () => sock.write(`${command}\r\n`));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) { clearTimeout(t); sock.destroy(); resolve(buf.slice(0, buf.indexOf('\r\n'))); }
    });
    sock.on('error', (e) => { clearTimeout(t); reject(e); });
  });
}

/** The output of redis-cli against a port (loopback). */
export function cli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ServerOptions {
  /** Follow this primary's port as a replica. */
  replicaOf?: number;
  /** Run as a cluster node. */
  cluster?: boolean;
}

export class RedisServer {
  private proc: ChildProcess | undefined;

  private constructor(readonly port: number, readonly dir: string, private readonly options: ServerOptions) {}

  /** Starts a server on a free loopback port in a fresh temporary directory; resolves once it answers PING. */
  static async start(options: ServerOptions = {}): Promise<RedisServer> {
    const s = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'tickstore-redis-')), options);
    await s.spawn();
    return s;
  }

  get url(): string { return `redis://127.0.0.1:${this.port}`; }
  get pid(): number | undefined { return this.proc?.pid; }
  get running(): boolean { return this.proc !== undefined; }

  private async spawn(): Promise<void> {
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
      '--dir', this.dir, '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning',
    ];
    if (this.options.replicaOf !== undefined) args.push('--replicaof', '127.0.0.1', String(this.options.replicaOf));
    if (this.options.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, 'nodes.conf'), '--cluster-node-timeout', '2000');
    const proc = spawn('redis-server', args, { stdio: 'ignore' });
    started.add(proc);
    proc.once('exit', () => { started.delete(proc); if (this.proc === proc) this.proc = undefined; });
    this.proc = proc;
    const until = Date.now() + 10_000;
    for (;;) {
      if (!this.proc) throw new Error(`redis-server on port ${this.port} exited at start`);
      try {
        if (await rawCommand(this.port, 'PING', 500) === '+PONG') return;
      } catch { /* not listening yet */ }
      if (Date.now() > until) throw new Error(`redis-server on port ${this.port} did not answer PING within 10 s`);
      await sleep(25);
    }
  }

  /** Stops the process by its pid (SIGTERM: a clean shutdown; SIGKILL: a crash) and waits for its exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** A crash: kill -9. */
  kill(): Promise<void> { return this.stop('SIGKILL'); }

  /** Starts again on the same port and directory (the AOF is replayed). */
  async restart(): Promise<void> {
    if (this.proc) throw new Error('still running');
    await this.spawn();
  }

  /** Stops the process and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A 3-master cluster (no replicas), ready once every node reports cluster_state:ok. */
export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  static async start(masters = 3): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < masters; i++) nodes.push(await RedisServer.start({ cluster: true }));
      cli(nodes[0]!.port, '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes');
      const until = Date.now() + 30_000;
      while (!nodes.every((n) => cli(n.port, 'cluster', 'info').includes('cluster_state:ok'))) {
        if (Date.now() > until) throw new Error('cluster did not reach cluster_state:ok within 30 s');
        await sleep(100);
      }
      return new RedisCluster(nodes);
    } catch (err) {
      for (const n of nodes) await n.destroy();
      throw err;
    }
  }

  get startupNodes(): { host: string; port: number }[] { return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })); }

  async destroy(): Promise<void> {
    for (const n of this.nodes) await n.destroy();
  }
}
